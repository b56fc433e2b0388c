"""Every error mlmon raises on purpose.

MlmonError
├── ConfigError (ValueError)        a setting or flag has a wrong value; names the variable
├── DecodeError (ValueError)        a message body is not a valid record; carries a preview
├── RecordError (ValueError)        a decoded record cannot be used (wrong length, NaN, ...)
├── ModelLoadError                  a model file is missing, unreadable or of unknown format
│   └── UnsafeModelError            a pickle/joblib file was given without --trust-pickle
├── DatasetError                    a dataset file is missing or lacks the target column
├── EstimationError (ValueError)    a reference or rows quality cannot be estimated from; names why
└── BrokerError (ConnectionError)   the broker is unreachable or refused an operation
"""

from __future__ import annotations

# How a command that fails on one of these exits. A supervisor restarts a service that exited
# EXIT_BROKER (the broker may come back) but not one that exited EXIT_BAD_INPUT (a setting, a
# dataset or a model file that is wrong stays wrong).
EXIT_BAD_INPUT = 2
EXIT_BROKER = 3


class MlmonError(Exception):
    """Base of every mlmon error."""


class ConfigError(MlmonError, ValueError):
    """A setting has a wrong value."""


class DecodeError(MlmonError, ValueError):
    """A message body cannot be decoded into a record."""

    def __init__(self, reason: str, raw: bytes) -> None:
        self.reason = reason
        self.preview = raw[:120].decode("utf-8", errors="replace")
        super().__init__(f"{reason} (message starts {self.preview!r})")


class RecordError(MlmonError, ValueError):
    """A well-formed record that cannot be processed."""

    def __init__(self, record_id: object, reason: str) -> None:
        self.record_id = record_id
        self.reason = reason
        super().__init__(f"record {record_id!r}: {reason}")


class ModelLoadError(MlmonError):
    """A model file cannot be loaded."""


class UnsafeModelError(ModelLoadError):
    """Loading this file would run arbitrary code and the user has not consented."""


class DatasetError(MlmonError):
    """A dataset cannot be loaded."""


class EstimationError(MlmonError, ValueError):
    """Quality cannot be estimated from this reference or these rows (too few rows, one class,
    NaN scores, classes that do not match the reference)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BrokerError(MlmonError, ConnectionError):
    """The message broker is unreachable or refused an operation."""
