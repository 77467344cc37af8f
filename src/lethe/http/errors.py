"""The HTTP status of each :class:`~lethe.errors.LetheError` (the CLI maps them to exit codes)."""

from __future__ import annotations

from lethe.errors import (
    ApprovalStateError,
    ConfigError,
    LeaseLostError,
    LetheError,
    NotFoundError,
    PlanChangedError,
    SafetyLimitError,
    StoreError,
)

__all__ = ["http_status_for"]

_STATUS: list[tuple[type[LetheError], int]] = [
    (NotFoundError, 404),
    (ApprovalStateError, 409),  # before ConfigError, its base
    (PlanChangedError, 409),
    (ConfigError, 400),
    (SafetyLimitError, 409),
    (LeaseLostError, 409),
    (StoreError, 503),  # retryable: the state or application database is unreachable
]


def http_status_for(error: LetheError) -> int:
    """The status code answering ``error`` (500 for anything unexpected)."""
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 500)
