"""lethe: a declarative data-retention engine.

A policy file says what data lives how long and what happens before it goes; lethe plans it,
shows it, runs it in short audited batches, and proves what it deleted.

The public surface is listed in ``__all__``; everything else may change between releases.
"""

from lethe.api import Lethe
from lethe.config import Duration, LetheConfig, Settings, load, load_file, parse_duration
from lethe.engine.check import CheckReport
from lethe.engine.explain import Explanation
from lethe.engine.health import HealthReport
from lethe.engine.stop import StopFlag
from lethe.errors import (
    AuditIntegrityError,
    ConfigError,
    DeliveryError,
    DeliveryRejectedError,
    DeployRefusedError,
    ExitCode,
    LeaseLostError,
    LetheError,
    LiveCheckError,
    NotFoundError,
    PlanFileError,
    SafetyLimitError,
    SenderAuthError,
    SenderTLSError,
    SenderUnreachableError,
    StoreError,
)
from lethe.holds.registry import Hold
from lethe.model.plan import PhasePlan, Plan
from lethe.model.results import PhaseResult, RunResult, RunStatus

__version__ = "0.1.0"

__all__ = [
    "AuditIntegrityError",
    "CheckReport",
    "ConfigError",
    "DeliveryError",
    "DeliveryRejectedError",
    "DeployRefusedError",
    "Duration",
    "ExitCode",
    "Explanation",
    "HealthReport",
    "Hold",
    "LeaseLostError",
    "Lethe",
    "LetheConfig",
    "LetheError",
    "LiveCheckError",
    "NotFoundError",
    "PhasePlan",
    "PhaseResult",
    "Plan",
    "PlanFileError",
    "RunResult",
    "RunStatus",
    "SafetyLimitError",
    "SenderAuthError",
    "SenderTLSError",
    "SenderUnreachableError",
    "Settings",
    "StopFlag",
    "StoreError",
    "__version__",
    "load",
    "load_file",
    "parse_duration",
]
