"""Deployment glue generated from ``[[jobs]]``: ``lethe deploy TARGET``.

One module per platform in :mod:`lethe.deploy.targets`, behind :class:`Target`, registered
in :data:`TARGETS`; one translator per schedule dialect in :mod:`lethe.deploy.dialects`.
"""

from lethe.deploy import targets as _targets  # noqa: F401  (registers every target)
from lethe.deploy.base import Artifact, DeployContext, Firing, Target
from lethe.deploy.generate import context_for, env_names, generate, write
from lethe.deploy.registry import TARGETS, register

__all__ = [
    "TARGETS",
    "Artifact",
    "DeployContext",
    "Firing",
    "Target",
    "context_for",
    "env_names",
    "generate",
    "register",
    "write",
]
