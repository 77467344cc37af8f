"""Phase types. Importing this package registers every built-in action."""

from lethe.actions import purge, soft_delete, update, warn
from lethe.actions.base import Action, PhaseContext
from lethe.actions.external import ExternalAction, ExternalOutcome
from lethe.actions.registry import ACTIONS, register

__all__ = [
    "ACTIONS",
    "Action",
    "ExternalAction",
    "ExternalOutcome",
    "PhaseContext",
    "purge",
    "register",
    "soft_delete",
    "update",
    "warn",
]
