"""The exceptions lethe raises, and the exit code each maps to.

Every error lethe raises on purpose derives from :class:`LetheError`::

    LetheError
    ├── ConfigError            the policy file or an argument is wrong (exit 2)
    │   ├── ApprovalStateError an approval is not pending/approved as the command needs (exit 2)
    │   ├── LiveCheckError     the file is valid but the live database disagrees (exit 2)
    │   └── DeployRefusedError a deployment target cannot express a job as declared (exit 2)
    ├── SafetyLimitError       a circuit breaker refused the run; nothing was touched (exit 3)
    ├── AuditIntegrityError    the audit chain does not verify (exit 4)
    ├── StoreError             a store failed or could not be reached (exit 5)
    │   └── DataRefusedError   the store refused a batch's change for the data it touched
    ├── PlanFileError          a plan file is unreadable, of an unknown version or tampered (exit 2)
    ├── PlanChangedError       an approval's items are no longer all due and unheld (exit 13)
    ├── LeaseLostError         a run lost its lease; its final writes were refused (exit 1)
    ├── NotFoundError          a run, hold or item named on the command line does not exist (exit 6)
    └── DeliveryError          a notice was not delivered (exits 8 to 11, by cause)
        ├── SenderUnreachableError  connection refused, unknown host, timeout, dropped (exit 8)
        │   └── DeliveryUnknownError    dropped after the message was handed over (exit 8)
        ├── SenderTLSError          TLS or STARTTLS failed (certificate, handshake) (exit 9)
        ├── SenderAuthError         the server refused the credentials (exit 10)
        └── DeliveryRejectedError   the server answered 4xx/5xx for this message (exit 11)

Driver exceptions are translated once, at the store boundary, with ``raise … from exc`` so that
the CLI and the Python API only ever see this tree.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = [
    "ApprovalStateError",
    "AuditIntegrityError",
    "ConfigError",
    "DataRefusedError",
    "DeliveryError",
    "DeliveryRejectedError",
    "DeliveryUnknownError",
    "DeployRefusedError",
    "ExitCode",
    "LeaseLostError",
    "LetheError",
    "LiveCheckError",
    "NotFoundError",
    "PlanChangedError",
    "PlanFileError",
    "SafetyLimitError",
    "SenderAuthError",
    "SenderTLSError",
    "SenderUnreachableError",
    "StoreError",
    "exit_code_for",
]


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FINISHED_WITH_ERRORS = 1
    INVALID = 2
    SAFETY_LIMIT = 3
    AUDIT_BROKEN = 4
    STORE_UNAVAILABLE = 5
    NOT_FOUND = 6
    UNHEALTHY = 7
    # 7 is taken on main by UNHEALTHY (issue 4's `lethe health`).
    SENDER_UNREACHABLE = 8
    SENDER_TLS = 9
    SENDER_AUTH = 10
    DELIVERY_REJECTED = 11
    OVERDUE = 12
    PLAN_CHANGED = 13


class LetheError(Exception):
    """Root of every error lethe raises on purpose."""

    exit_code: ExitCode = ExitCode.FINISHED_WITH_ERRORS


class ConfigError(LetheError):
    """The policy file, an environment variable it names, or a command-line argument is wrong.

    ``where`` names the file and key (``lethe.toml: datasets.surveys.retain``) so the one-line
    message tells the user what to fix.
    """

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class LiveCheckError(ConfigError):
    """The policy file is valid but does not match the live database (unknown table or column)."""


class DeployRefusedError(ConfigError):
    """``lethe deploy`` refused: the platform cannot carry a job's schedule or zone exactly
    (``--approximate=tick`` fires ``lethe tick`` on a coarser schedule instead), or a name
    does not fit the platform's rules. Nothing was written."""


class ApprovalStateError(ConfigError):
    """An approval is not in the state the command needs: already approved, used, expired,
    or still pending when a run asks for it. HTTP answers 409."""


class SafetyLimitError(LetheError):
    """A safety limit (circuit breaker) refused the whole run before anything was changed.

    ``result`` is the recorded :class:`~lethe.model.results.RunResult` (status ``tripped``).
    """

    exit_code = ExitCode.SAFETY_LIMIT

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result: Any = result


class AuditIntegrityError(LetheError):
    """The hash-chained audit ledger does not verify: a record was edited, removed or inserted."""

    exit_code = ExitCode.AUDIT_BROKEN


class StoreError(LetheError):
    """A store (application database or lethe's state database) failed or is unreachable."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class DataRefusedError(StoreError):
    """The store refused a batch's change because of the data it touched: a foreign key the
    cascade does not cover, a trigger raising, a NOT NULL or CHECK constraint, a value out of
    range. The store rolled the batch back; trying the same items again fails the same way,
    but the batch's other items may go. The executor isolates the refused items by bisection
    (:mod:`lethe.engine.bisection`), so a store only has to raise this from its batch.
    """


class PlanFileError(LetheError):
    """A plan file cannot be used: unreadable, unknown version, or its hash does not match."""

    exit_code = ExitCode.INVALID


class PlanChangedError(LetheError):
    """An approval was refused because items of the recorded plan are no longer due, or are
    held now: approving it would approve something other than what will run. Nothing was
    changed; a new run records a fresh plan to approve."""

    exit_code = ExitCode.PLAN_CHANGED


class LeaseLostError(LetheError):
    """A run's lease expired and another process took it as dead: the run's final writes (its
    run record, its job slot's outcome) are refused so they cannot overwrite that verdict."""


class NotFoundError(LetheError):
    """A run, hold, dataset or policy named by the user does not exist."""

    exit_code = ExitCode.NOT_FOUND


class DeliveryError(LetheError):
    """A notice (a deletion warning, a test message) was not delivered.

    ``temporary`` says whether trying again later may succeed (a 4xx reply, an outage); the
    message is one line naming the server and its reply, never a password.
    """

    exit_code = ExitCode.DELIVERY_REJECTED

    def __init__(self, message: str, *, temporary: bool = True) -> None:
        super().__init__(message)
        self.temporary = temporary


class SenderUnreachableError(DeliveryError):
    """The server could not be reached: connection refused, unknown host, timeout, dropped."""

    exit_code = ExitCode.SENDER_UNREACHABLE


class DeliveryUnknownError(SenderUnreachableError):
    """The connection was lost after the message was handed over (SMTP DATA sent, an HTTP
    request written) and before the server answered: it may have been delivered. Never resent
    in the same run; the next run resends it under the same Message-ID (Idempotency-Key), so a
    receiver that has it drops the copy."""


class SenderTLSError(DeliveryError):
    """TLS failed: the server offers no STARTTLS, or the handshake or certificate is refused."""

    exit_code = ExitCode.SENDER_TLS


class SenderAuthError(DeliveryError):
    """The server refused the user name and password."""

    exit_code = ExitCode.SENDER_AUTH


class DeliveryRejectedError(DeliveryError):
    """The server answered this message with an error (SMTP 4xx/5xx, HTTP 4xx/5xx).

    ``code`` is the server's reply code (None when lethe refused the message itself, e.g. a
    malformed address); ``temporary`` says whether the same message may pass later.
    """

    exit_code = ExitCode.DELIVERY_REJECTED

    def __init__(self, message: str, *, code: int | None, temporary: bool) -> None:
        super().__init__(message, temporary=temporary)
        self.code = code


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code the CLI uses for ``error``; anything unexpected counts as a failed run."""
    if isinstance(error, LetheError):
        return error.exit_code
    return ExitCode.FINISHED_WITH_ERRORS
