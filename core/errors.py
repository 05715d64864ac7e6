"""Errors a user can act on. The CLI prints their message and exits non-zero; no traceback."""


class ModomodoError(Exception):
    """Base class: the message alone must tell the user what to fix."""

    exit_code = 1


class ConfigError(ModomodoError):
    """A config file is missing, unreadable or invalid (exit code 2)."""

    exit_code = 2


class UsageError(ModomodoError):
    """A command-line argument is invalid (exit code 2)."""

    exit_code = 2


class PluginError(ModomodoError):
    """A plugin failed to load, or a component it should provide is missing."""


class DatasetError(ModomodoError):
    """A dataset could not be loaded (missing files, too many bad rows)."""


class HistoryError(ModomodoError):
    """An optimizer cannot use the observation history it was given."""


class TrialError(ModomodoError):
    """A trial failed (exception, NaN loss, out of memory)."""
