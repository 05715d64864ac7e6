"""modomodo: find the data mixture that makes RLVR on vision-language models generalise best.

This module is the public API that plugins import; nothing else in the package is promised.
"""

from importlib.metadata import PackageNotFoundError, version

from .datasets import DatasetSource, LoadRequest, Row
from .assignments import parse_assignment
from .errors import (
    ConfigError,
    DatasetError,
    HistoryError,
    ModomodoError,
    PluginError,
    TrialError,
    UsageError,
)
from .history import history_arrays, read_history
from .hookspecs import hookimpl
from .mixture import Mixture, MixtureError
from .options import between, parse_options, positive
from .plugins import get as get_component
from .plugins import temporary_plugin
from .optimizers import (MixtureOptimizer, Observation, OptimizerFactory, Recommendation, Run, best_observed,
                         recommend)
from .trainers import DomainData, GenerateRequest, Trainer, TrainOutcome, TrainRequest
from .verifiers import CompositeReward, RewardBreakdown, Verifier

try:
    __version__ = version("modomodo")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = [
    "CompositeReward",
    "ConfigError",
    "DatasetError",
    "DatasetSource",
    "DomainData",
    "GenerateRequest",
    "HistoryError",
    "LoadRequest",
    "Mixture",
    "MixtureError",
    "MixtureOptimizer",
    "ModomodoError",
    "Observation",
    "OptimizerFactory",
    "PluginError",
    "Recommendation",
    "RewardBreakdown",
    "Row",
    "Run",
    "TrainOutcome",
    "TrainRequest",
    "Trainer",
    "TrialError",
    "UsageError",
    "Verifier",
    "__version__",
    "best_observed",
    "between",
    "get_component",
    "history_arrays",
    "parse_assignment",
    "parse_options",
    "positive",
    "hookimpl",
    "read_history",
    "recommend",
    "temporary_plugin",
]
