"""The study config: frozen attrs classes loaded from TOML with cattrs.

Unknown keys are rejected and every error names the file, the key path, the bad
value and what was expected. Defaults are documented in docs/config.md.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args

import attrs
from cattrs.cols import is_mapping, is_sequence, list_structure_factory, mapping_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.tomllib import make_converter

from .assignments import parse_assignment
from .errors import ConfigError
from .mixture import SUM_TOLERANCE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BboxConvention = Literal["pixels", "rel1000", "resized-input"]
Group = Literal["in", "out"]


def _positive(instance, attribute, value):
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name}: expected a finite number > 0, got {value!r}")


def _non_negative(instance, attribute, value):
    if value is not None and not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name}: expected a finite number >= 0, got {value!r}")


def _between(low, high):
    """A whole number in [low, high]: bounds that turn an absurd value into an error at load, not a
    MemoryError hours into a study."""

    def check(instance, attribute, value):
        if value is not None and not low <= value <= high:
            raise ValueError(f"{attribute.name}: expected a whole number from {low:,} to {high:,}, got {value!r}")

    return check


def _study_name(instance, attribute, value):
    """The run directory's name: one path component, no surprises in a shell or a TOML file."""
    if not STUDY_NAME.fullmatch(value):
        raise ValueError(f"{attribute.name}: expected letters, digits, '.', '_' or '-', not starting with '.' "
                         f"(it names the folder under output_dir), got {value!r}")


STUDY_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds
DEFAULT_BUDGET = 12
MAX_BATCH = 64  # proposals per round: a joint q-batch of more is hours of acquisition optimisation


def _fraction(instance, attribute, value):
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name}: expected a number between 0 and 1, got {value!r}")


@attrs.frozen(kw_only=True)
class StudyConfig:
    name: str = attrs.field(validator=_study_name)
    output_dir: str = "runs"
    seed: int = attrs.field(default=42, validator=_between(0, MAX_SEED))
    budget: int | None = attrs.field(default=None, validator=_between(1, 100_000))
    budget_steps: int | None = attrs.field(default=None, validator=_between(1, 10**12))
    objective: str = "out_score"
    confirm_seeds: int = attrs.field(default=0, validator=_between(0, 1_000))
    evaluate_base: bool = True

    def __attrs_post_init__(self):
        """``budget`` counts search trials (12 unless ``budget_steps``, the training steps they may spend, is
        given); with both, the study ends at whichever is reached first."""
        if self.budget is None and self.budget_steps is None:
            object.__setattr__(self, "budget", DEFAULT_BUDGET)


@attrs.frozen(kw_only=True)
class ModelConfig:
    trainer: str = "trl-grpo"
    embedded: str | None = None
    path: str | None = None
    trust_remote_code: bool = False
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    options: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self):
        if self.embedded is not None and self.path is not None:
            raise ValueError(f"path: give either 'embedded' or 'path', not both (embedded={self.embedded!r})")
        if self.embedded is None and self.path is None:
            object.__setattr__(self, "embedded", "tiny-qwen2vl")


@attrs.frozen(kw_only=True)
class LoraConfig:
    r: int = attrs.field(default=16, validator=_positive)
    alpha: int = attrs.field(default=32, validator=_positive)
    dropout: float = attrs.field(default=0.05, validator=_fraction)
    target_modules: list[str] = attrs.field(factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@attrs.frozen(kw_only=True)
class TrainConfig:
    """GRPO settings. Defaults are the paper's (paper.md section 3)."""

    steps: int = attrs.field(default=2000, validator=_between(1, 10_000_000))
    num_generations: int = attrs.field(default=6, validator=_between(1, 1_024))
    batch_size: int = attrs.field(default=12, validator=_between(1, 1_000_000))
    gradient_accumulation_steps: int = attrs.field(default=1, validator=_between(1, 100_000))
    learning_rate: float = attrs.field(default=1e-6, validator=_positive)
    warmup_ratio: float = attrs.field(default=0.1, validator=_fraction)
    beta: float = attrs.field(default=0.04, validator=_non_negative)
    temperature: float = attrs.field(default=1.0, validator=_positive)
    max_completion_length: int = attrs.field(default=256, validator=_between(1, 1_000_000))
    freeze_vision: bool = True
    on_exhausted: Literal["stop", "repeat"] = "stop"
    lora: LoraConfig | None = None
    report_to: list[str] = attrs.field(factory=list)
    save_checkpoint: bool = False
    logging_steps: int = attrs.field(default=10, validator=_positive)
    options: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self):
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"batch_size: expected a multiple of num_generations ({self.num_generations}), got {self.batch_size}"
            )


@attrs.frozen(kw_only=True)
class EvalConfig:
    """How benchmarks are answered. ``limit`` caps rows per benchmark unless the benchmark sets its own."""

    mode: Literal["greedy", "sampled"] = "greedy"
    samples: int = attrs.field(default=4, validator=_between(1, 1_024))
    temperature: float = attrs.field(default=1.0, validator=_positive)
    max_new_tokens: int = attrs.field(default=128, validator=_between(1, 1_000_000))
    batch_size: int = attrs.field(default=32, validator=_positive)
    limit: int | None = attrs.field(default=None, validator=_positive)
    engine: Literal["auto", "hf", "vllm"] = "auto"
    at: list[float] = attrs.field(factory=lambda: [1.0], validator=lambda i, a, v: _fractions_of_the_run(v))


def _fractions_of_the_run(value: list[float]) -> None:
    """``eval.at``: where along its steps a trial is evaluated, the last at the end of the run."""
    if not value or any(not 0 < f <= 1 for f in value) or list(value) != sorted(set(value)) or value[-1] != 1:
        raise ValueError(f"at: expected increasing fractions of the run's steps in (0, 1], ending with 1.0 "
                         f"(e.g. [0.25, 0.5, 1.0]), got {value!r}")


@attrs.frozen(kw_only=True)
class RewardWeights:
    accuracy: float = attrs.field(default=2.0, validator=_non_negative)
    iou: float = attrs.field(default=2.0, validator=_non_negative)
    format: float = attrs.field(default=1.0, validator=_non_negative)


def _verifier_names(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@attrs.frozen(kw_only=True)
class SourceEntry:
    """What domains and benchmarks share: where their rows come from and how they are read."""

    source: str
    path: str | None = None
    format: str = "format"
    bbox: BboxConvention = "pixels"
    limit: int | None = attrs.field(default=None, validator=_positive)
    columns: dict[str, str] = attrs.field(factory=dict)
    options: dict[str, Any] = attrs.field(factory=dict)
    max_bad_fraction: float = attrs.field(default=0.05, validator=_fraction)


@attrs.frozen(kw_only=True)
class DomainConfig(SourceEntry):
    """A training domain: its rows and how they are rewarded."""

    verifier: str | list[str] = attrs.field(converter=_verifier_names)
    split: str = "train"
    weights: RewardWeights = attrs.field(factory=RewardWeights)
    weight: float | None = attrs.field(default=None, validator=_non_negative)


@attrs.frozen(kw_only=True)
class BenchmarkConfig(SourceEntry):
    """An evaluation set. Its score is the mean of its verifier over examples (the metric)."""

    verifier: str
    group: Group
    split: str = "test"


@attrs.frozen(kw_only=True)
class OptimizerConfig:
    name: str = "botorch-gp"
    initial: Literal["seed", "dirichlet", "none"] = "seed"
    initial_trials: int | None = attrs.field(default=None, validator=_positive)
    batch: int = attrs.field(default=1, validator=_between(1, MAX_BATCH))
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ExecutorConfig:
    """Where trials run. ``trial_process = "child"`` runs each trial (and the base's evaluation) in its own
    process, so a crash, an out-of-memory kill or a hang fails that trial alone; ``processes`` > 1 starts
    that many through the trainer's launcher (one per GPU), with ``launcher_config`` passed to it."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    max_concurrent: int = attrs.field(default=2, validator=_positive)
    num_cpus: float = attrs.field(default=1, validator=_positive)
    num_gpus: float = attrs.field(default=0, validator=_non_negative)
    retries: int = attrs.field(default=0, validator=_non_negative)
    trial_process: Literal["inline", "child"] = "inline"
    processes: int = attrs.field(default=1, validator=_positive)
    launcher_config: str | None = None
    timeout: float | None = attrs.field(default=None, validator=_positive)

    def __attrs_post_init__(self):
        if self.trial_process == "inline":
            needs_child = {"processes": self.processes if self.processes > 1 else None,
                           "launcher_config": self.launcher_config, "timeout": self.timeout}
            for key, value in needs_child.items():
                if value is not None:
                    raise ValueError(f"{key}: {value!r} needs trial_process = \"child\" (a trial in the driver's "
                                     "own process can be neither split nor stopped)")
        if self.processes > 1 and 0 < self.num_gpus < self.processes:
            raise ValueError(f"num_gpus: {self.num_gpus:g} GPUs reserved for a trial of {self.processes} processes; "
                             f"expected at least {self.processes} (one per process) or 0")
        if self.launcher_config is not None and not Path(self.launcher_config).is_file():
            raise ValueError(f"launcher_config: expected an existing file, got {self.launcher_config!r}")


@attrs.frozen(kw_only=True)
class Config:
    study: StudyConfig
    domains: dict[str, DomainConfig]
    benchmarks: dict[str, BenchmarkConfig] = attrs.field(factory=dict)
    model: ModelConfig = attrs.field(factory=ModelConfig)
    train: TrainConfig = attrs.field(factory=TrainConfig)
    eval: EvalConfig = attrs.field(factory=EvalConfig)
    optimizer: OptimizerConfig = attrs.field(factory=OptimizerConfig)
    executor: ExecutorConfig = attrs.field(factory=ExecutorConfig)

    @property
    def domain_names(self) -> list[str]:
        return list(self.domains)

    def fixed_mixture(self):
        """The mixture given by ``domains.*.weight``, or None when no domain sets a weight."""
        from .mixture import Mixture

        weights = {name: d.weight for name, d in self.domains.items()}
        if all(w is None for w in weights.values()):
            return None
        return Mixture({name: w or 0.0 for name, w in weights.items()})


converter = make_converter(forbid_extra_keys=True)


def _strict(kind: type, expected: str):
    def structure(value, _):
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {expected}, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return structure


for _kind, _expected in ((int, "an integer"), (float, "a number"), (str, "a string"), (bool, "true or false")):
    converter.register_structure_hook(_kind, _strict(_kind, _expected))


def _structure_literal(value, literal_type):
    choices = get_args(literal_type)
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


converter.register_structure_hook_func(lambda t: getattr(t, "__origin__", None) is Literal, _structure_literal)


def _check_shape(predicate, make_hook, shape: type, expected: str) -> None:
    """Reject a scalar where a table or list belongs (cattrs would fail obscurely or split a string)."""

    def factory(type_, conv):
        structure_inner = make_hook(type_, conv)

        def structure(value, _):
            if not isinstance(value, shape):
                raise ValueError(f"expected {expected}, got {value!r}")
            return structure_inner(value, type_)

        return structure

    converter.register_structure_hook_factory(predicate, factory)


_check_shape(attrs.has, make_dict_structure_fn, dict, "a table")
_check_shape(is_mapping, mapping_structure_factory, dict, "a table")
_check_shape(is_sequence, list_structure_factory, list, "a list")


def _structure_names(value, _):
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        return value
    raise ValueError(f"expected a name or a non-empty list of names, got {value!r}")


converter.register_structure_hook_func(lambda t: t == (str | list[str]), _structure_names)


def _error_lines(error: BaseException, path: str) -> list[str]:
    """Flatten cattrs' exception groups into 'key.path: message' lines."""
    if isinstance(error, (ClassValidationError, IterableValidationError)):
        lines = []
        for inner in error.exceptions:
            note = next(iter(getattr(inner, "__notes__", []) or []), None)
            name = getattr(note, "name", None)
            if name is None:
                name = getattr(note, "index", None)
            inner_path = f"{path}.{name}" if path and name is not None else (str(name) if name is not None else path)
            lines.extend(_error_lines(inner, inner_path))
        return lines
    if isinstance(error, ForbiddenExtraKeysError):
        known = [field.name for field in attrs.fields(error.cl)]
        lines = []
        for key in sorted(error.extra_fields):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
            lines.append(f"{path}.{key}: unknown key; {hint} (see docs/config.md)" if path else
                         f"{key}: unknown key; {hint} (see docs/config.md)")
        return lines
    if isinstance(error, KeyError):
        # cattrs notes the missing attribute's name, so ``path`` already ends with it.
        return [f"{path or error.args[0]}: required key missing"]
    message = str(error)
    field, sep, rest = message.partition(": ")
    if sep and field.isidentifier() and " " not in field:
        return [f"{path}.{field}: {rest}" if path else f"{field}: {rest}"]
    return [f"{path}: {message}" if path else message]


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config; raise ConfigError naming the file and key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> Config:
    try:
        config = converter.structure(data, Config)
    except (ClassValidationError, IterableValidationError, ValueError, TypeError, KeyError) as error:
        lines = _error_lines(error, "")
        raise ConfigError("\n".join(f"{source}: {line}" for line in lines)) from None
    problems = _cross_checks(config)
    if problems:
        raise ConfigError("\n".join(f"{source}: {line}" for line in problems))
    return config


def _cross_checks(config: Config) -> list[str]:
    problems = []
    if not config.domains:
        problems.append("domains: expected at least one [domains.NAME] table")
    weights = {name: d.weight for name, d in config.domains.items()}
    given = [w for w in weights.values() if w is not None]
    if given:
        total = math.fsum(given)
        if abs(total - 1) > SUM_TOLERANCE:
            listed = ", ".join(f"domains.{n}.weight={w}" for n, w in weights.items() if w is not None)
            problems.append(f"domains.*.weight: expected weights summing to 1, they sum to {total:.6g} ({listed})")
    groups = {entry.group for entry in config.benchmarks.values()}
    objectives = {*(f"{group}_score" for group in groups), *config.benchmarks}
    if config.benchmarks and config.study.objective not in objectives:
        problems.append(
            f"study.objective: expected one of {', '.join(sorted(objectives))}, "
            f"got {config.study.objective!r}"
            + (f" (no benchmark has group = {config.study.objective[:-6]!r})"
               if config.study.objective in ("in_score", "out_score") else "")
        )
    for name in config.benchmarks:
        if name in ("in_score", "out_score") or name.endswith("_stderr"):
            problems.append(f"benchmarks.{name}: the name is taken by a score column of the ledger; rename it")
    overlap = set(config.domains) & set(config.benchmarks)
    if overlap:
        problems.append(f"benchmarks: names must differ from domain names, both have {', '.join(sorted(overlap))}")
    return problems


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config with every default filled in, as plain TOML-able data (None values dropped)."""
    return _drop_none(converter.unstructure(config))


def with_overrides(config: Config, assignments: list[str]) -> Config:
    """``["train.steps=150", "eval.limit=300"]``: the config with those keys changed (see
    :func:`parse_assignment`), validated again like a config file."""
    data = config_to_dict(config)
    for assignment in assignments:
        key, value = parse_assignment(assignment)
        *parents, leaf = key.split(".")
        table = data
        for part in parents:
            table = table.setdefault(part, {})
        table[leaf] = value
    return config_from_dict(data, "--set")


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def dump_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for plain data (tables, scalars, lists of scalars)."""
    lines: list[str] = []

    def scalar(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str):
            return _toml_string(value)
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{_key(k)} = {scalar(v)}" for k, v in value.items()) + "}"
        raise TypeError(f"cannot write {value!r} as TOML")

    def table(prefix: str, mapping: dict[str, Any]) -> None:
        plain = {k: v for k, v in mapping.items() if not isinstance(v, dict) or not _is_table(v)}
        nested = {k: v for k, v in mapping.items() if k not in plain}
        if prefix and (plain or not nested):
            lines.append(f"\n[{prefix}]")
        for key, value in plain.items():
            lines.append(f"{_key(key)} = {scalar(value)}")
        for key, value in nested.items():
            table(f"{prefix}.{_key(key)}" if prefix else _key(key), value)

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table(value: dict) -> bool:
    return bool(value)


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML also wants escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else _toml_string(key)


BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
