"""What every anchor is: a place outside the state database that keeps run heads.

A **run head** is the ledger entry a run's ``run_finished`` event is sealed in: its hash chains
every entry before it, so a copy of it kept where the state database's administrator cannot
write shows later whether the ledger was rewritten or rolled back. An anchor publishes one
head at a time and, where the place allows, reads every head it keeps back for
``lethe audit verify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from lethe.errors import LetheError

__all__ = ["Anchor", "AnchorConfig", "AnchorError", "Head", "Reading"]

#: The format of a published head; a reader refuses others.
HEAD_VERSION = 1


class AnchorError(LetheError):
    """An anchor could not be written or read (unreachable, refused, malformed)."""


@dataclass(frozen=True)
class Head:
    """One run's head: the ledger entry that seals its ``run_finished`` event."""

    run_id: str
    entry: int
    hash: str
    signature: str | None
    key_id: str | None
    ts: str

    def document(self) -> dict[str, Any]:
        """The head as published: JSON-ready, with its format and kind."""
        return {"version": HEAD_VERSION, "kind": "lethe.run_head", **asdict(self)}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Head:
        """The head a published document holds; ``ValueError`` when it is not one."""
        if document.get("kind") != "lethe.run_head" or document.get("version") != HEAD_VERSION:
            raise ValueError("not a lethe run head (kind lethe.run_head, version 1)")
        try:
            head = cls(
                run_id=str(document["run_id"]),
                entry=int(document["entry"]),
                hash=str(document["hash"]),
                signature=None if document["signature"] is None else str(document["signature"]),
                key_id=None if document["key_id"] is None else str(document["key_id"]),
                ts=str(document["ts"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a run head without a valid {exc}") from None
        return head


@dataclass
class Reading:
    """What an anchor keeps: its heads, and what is wrong with the place itself (a line that
    is not a head, an object overwritten or hidden by a delete marker)."""

    heads: list[Head] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Anchor(Protocol):
    """A place run heads are published to."""

    #: The anchor's name in ``[[evidence.anchors]]`` (unique in the policy file).
    name: str

    def describe(self) -> str:
        """``file /var/lib/lethe/heads.jsonl``: the kind and where, no secrets."""
        ...

    def publish(self, head: Head) -> str:
        """Keep ``head``; returns what the place answered (``HTTP 200``, an object's
        version), raises :class:`AnchorError` when it did not keep it."""
        ...

    def read(self) -> Reading | None:
        """Every head kept, or None when the place cannot be read back (a webhook)."""
        ...

    def probe(self) -> list[tuple[str, str]]:
        """For ``lethe check``: ``(level, message)`` pairs ("ok", "warning", "error") saying
        whether publishing can work, without writing anything."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class AnchorConfig(BaseModel):
    """One ``[[evidence.anchors]]`` table; subclasses are registered by ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    #: Names the anchor in state rows and verify's report; defaults to its type.
    name: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")

    @property
    def label(self) -> str:
        """The anchor's name: ``name``, or its type."""
        return self.name or self.type

    def build(self, base_dir: Path, env: Mapping[str, str]) -> Anchor:
        """The anchor itself; ``base_dir`` is the policy file's directory, ``env`` where
        secrets named by variable are read."""
        raise NotImplementedError
