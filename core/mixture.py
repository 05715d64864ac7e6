"""Mixture: named domain weights on the probability simplex."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping

SUM_TOLERANCE = 1e-6
PARSE_ROUNDING_TOLERANCE = 1e-3
"""Parsed text whose weights sum to 1 within this is rescaled: printed mixtures are rounded."""


class MixtureError(ValueError):
    """Weights that do not form a mixture; the message says which and why."""


class Mixture(Mapping[str, float]):
    """Immutable domain -> weight map; finite, >= 0, summing to 1 within 1e-6.

    Domains keep the order they were given in (the config's order), so printing and
    vectors are stable. Equality and hashing ignore order.
    """

    __slots__ = ("_weights",)

    def __init__(self, weights: Mapping[str, float] | Iterable[tuple[str, float]]):
        items = list(weights.items() if isinstance(weights, Mapping) else weights)
        if not items:
            raise MixtureError("a mixture needs at least one domain")
        seen: dict[str, float] = {}
        for name, value in items:
            if not isinstance(name, str) or not name:
                raise MixtureError(f"domain names must be non-empty strings, got {name!r}")
            if name in seen:
                raise MixtureError(f"domain {name!r} is given twice")
            weight = _number(name, value)
            if not math.isfinite(weight):
                raise MixtureError(f"weight of {name!r} must be finite, got {value!r}")
            if weight < 0:
                raise MixtureError(f"weight of {name!r} must be >= 0, got {value!r}")
            seen[name] = weight
        total = math.fsum(seen.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise MixtureError(
                f"weights must sum to 1 (within {SUM_TOLERANCE:g}), they sum to {total:.6g}; "
                "use Mixture.normalised() to rescale"
            )
        self._weights = seen

    @classmethod
    def normalised(cls, weights: Mapping[str, float] | Iterable[tuple[str, float]]) -> Mixture:
        """Rescale non-negative finite weights to sum to 1 (tiny negatives from solvers clip to 0)."""
        items = list(weights.items() if isinstance(weights, Mapping) else weights)
        cleaned = []
        for name, value in items:
            weight = _number(name, value)
            if not math.isfinite(weight) or weight < -1e-9:
                raise MixtureError(f"weight of {name!r} must be finite and >= 0, got {value!r}")
            cleaned.append((name, max(weight, 0.0)))
        total = math.fsum(w for _, w in cleaned)
        if total <= 0:
            raise MixtureError("at least one weight must be positive")
        return cls([(name, w / total) for name, w in cleaned])

    @classmethod
    def uniform(cls, domains: Iterable[str]) -> Mixture:
        names = list(domains)
        return cls([(name, 1.0 / len(names)) for name in names])

    @classmethod
    def parse(cls, text: str, domains: Iterable[str] | None = None) -> Mixture:
        """Parse ``coco=0.2,lisa=0.8`` or a JSON object; domains left out get 0 when ``domains`` is given.

        Weights rounded for display (summing to 1 within 1e-3, as ``str(mixture)`` prints) are rescaled.
        """
        text = text.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise MixtureError(f"not valid JSON: {error}") from None
            if not isinstance(raw, dict):
                raise MixtureError("a JSON mixture must be an object {domain: weight}")
            items = list(raw.items())
        else:
            items = []
            for part in filter(None, (p.strip() for p in text.split(","))):
                name, sep, value = part.partition("=")
                if not sep:
                    raise MixtureError(f"expected 'domain=weight', got {part!r}")
                try:
                    items.append((name.strip(), float(value)))
                except ValueError:
                    raise MixtureError(f"weight of {name.strip()!r} must be a number, got {value.strip()!r}") from None
        if domains is not None:
            known = list(domains)
            unknown = [name for name, _ in items if name not in known]
            if unknown:
                raise MixtureError(f"unknown domain(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(known)}")
            given = dict(items)
            items = [(name, given.get(name, 0.0)) for name in known]
        total = math.fsum(_number(name, value) for name, value in items)
        if SUM_TOLERANCE < abs(total - 1.0) <= PARSE_ROUNDING_TOLERANCE:
            return cls.normalised(items)
        return cls(items)

    def vector(self, domains: Iterable[str] | None = None) -> list[float]:
        """The weights as a list, in ``domains`` order (missing domains are 0)."""
        if domains is None:
            return list(self._weights.values())
        return [self._weights.get(name, 0.0) for name in domains]

    def to_json(self) -> str:
        return json.dumps(self._weights)

    def __getitem__(self, name: str) -> float:
        return self._weights[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._weights)

    def __len__(self) -> int:
        return len(self._weights)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mixture):
            return self._weights == other._weights
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._weights.items()))

    def __str__(self) -> str:
        return ",".join(f"{name}={weight:.4g}" for name, weight in self._weights.items())

    def __repr__(self) -> str:
        return f"Mixture({self})"


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise MixtureError(f"weight of {name!r} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MixtureError(f"weight of {name!r} must be a number, got {value!r}") from None
