"""Errors a user can cause. The CLI prints their message on one line and exits with code 2.

Anything else that escapes a command is a bug in llmkit and stays a traceback.
"""


class UserError(Exception):
    """Something the user can fix: a config key, a file, a column, a value."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(UserError):
    """The YAML or a --set override does not validate against the stage's schema."""


class DataError(UserError):
    """Input data is missing, unreadable, empty after filtering or lacks a column."""


class CheckpointError(UserError):
    """A model or checkpoint directory is missing, incomplete or does not match the config."""


class GateFailed(UserError):
    """A --fail-under quality gate failed; exit code 1 so CI can tell it from a usage error."""

    exit_code = 1


class TrainingDiverged(UserError):
    """The training loss became NaN or infinite; the run stopped without saving."""


class TrainingInterrupted(UserError):
    """The run was stopped by a signal after saving a checkpoint."""

    exit_code = 130
