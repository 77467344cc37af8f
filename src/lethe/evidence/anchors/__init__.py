"""Anchors: copies of each run's chain head kept outside the state database.

Importing this package registers every built-in kind (``file``, ``s3``, ``webhook``). A new
kind is a module here with an :class:`~lethe.evidence.anchors.base.AnchorConfig` subclass
decorated by :func:`lethe.evidence.anchors.registry.register`; ``AnchorField`` (the
policy-file type of one ``[[evidence.anchors]]`` table) is built from the registry.
"""

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from lethe.evidence.anchors import file, s3, webhook
from lethe.evidence.anchors.base import Anchor, AnchorConfig, AnchorError, Head, Reading
from lethe.evidence.anchors.registry import ANCHORS, register

if TYPE_CHECKING:
    AnchorField = AnchorConfig
else:
    # Every registered anchor kind, told apart by its ``type`` key.
    AnchorField = Annotated[Union[tuple(ANCHORS.values())], Field(discriminator="type")]  # noqa: UP007

__all__ = [
    "ANCHORS",
    "Anchor",
    "AnchorConfig",
    "AnchorError",
    "AnchorField",
    "Head",
    "Reading",
    "file",
    "register",
    "s3",
    "webhook",
]
