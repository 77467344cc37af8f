"""lethe's own hold registry: who placed a hold on which item, why and when.

Released holds are kept as history (``released_at`` set, never deleted). Placing and releasing
a hold is also written to the audit ledger.

A hold names one key, or — when its key ends in ``*`` — every key that starts with the text
before the star: ``uploads/user-42/*`` holds a blob prefix, ``job:42:*`` a family of Redis keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from lethe.errors import ConfigError, NotFoundError
from lethe.model.text import stamp
from lethe.state.db import StateDB, as_utc
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import holds

__all__ = ["PREFIX_MARK", "HeldKeys", "Hold", "HoldRegistry"]

#: A hold key ending in this holds every key that starts with the rest of it.
PREFIX_MARK = "*"


class HeldKeys(frozenset[str]):
    """The exactly held keys of a dataset, whose ``in`` also answers for prefix holds."""

    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, texts: set[str]) -> HeldKeys:
        """Split hold keys into exact keys and prefixes."""
        held = cls(t for t in texts if not t.endswith(PREFIX_MARK))
        held.prefixes = tuple(sorted(t[: -len(PREFIX_MARK)] for t in texts - held))
        return held

    def __contains__(self, key: object) -> bool:
        if frozenset.__contains__(self, key):
            return True
        return isinstance(key, str) and any(key.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class Hold:
    """One hold, active while ``released_at`` is None."""

    id: int
    dataset: str
    item_key: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, key: str) -> bool:
        """Whether this hold names ``key`` (exactly, or as a prefix hold)."""
        return _covers(self.item_key, key)

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "key": self.item_key,
            "reason": self.reason,
            "placedBy": self.placed_by,
            "placedAt": self.placed_at.isoformat(),
            "releasedAt": self.released_at.isoformat() if self.released_at else None,
            "releasedBy": self.released_by,
            "releaseReason": self.release_reason,
        }


def _covers(hold_key: str, key: str) -> bool:
    if hold_key.endswith(PREFIX_MARK):
        return key.startswith(hold_key[: -len(PREFIX_MARK)])
    return key == hold_key


def _hold(row: Any) -> Hold:
    return Hold(
        id=row["id"],
        dataset=row["dataset"],
        item_key=row["item_key"],
        reason=row["reason"],
        placed_by=row["placed_by"],
        placed_at=as_utc(row["placed_at"]) or datetime.now(UTC),
        released_at=as_utc(row["released_at"]),
        released_by=row["released_by"],
        release_reason=row["release_reason"],
    )


class HoldRegistry:
    """Holds stored in the state database."""

    def __init__(self, state: StateDB, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def add(self, dataset: str, item_key: str, reason: str, placed_by: str) -> Hold:
        """Place a hold; an item may carry several active holds, each released on its own."""
        if not reason.strip():
            raise ConfigError("a hold needs a reason (--reason)")
        if not placed_by.strip():
            raise ConfigError("a hold needs the name of who places it (--by)")
        now = self.state.now()
        with self.state.write() as conn:
            inserted = conn.execute(
                holds.insert().values(
                    dataset=dataset,
                    item_key=item_key,
                    reason=reason,
                    placed_by=placed_by,
                    placed_at=now,
                )
            ).inserted_primary_key
            assert inserted is not None  # an INSERT always reports its key
            hold_id = int(inserted[0])
            self.ledger.append(
                conn,
                [
                    EventDraft(
                        run_id="-",
                        event="hold_placed",
                        dataset=dataset,
                        item_key=item_key,
                        details={"hold_id": hold_id, "by": placed_by},
                    )
                ],
            )
        return self.get(hold_id)

    def release(self, hold_id: int, released_by: str, reason: str = "") -> Hold:
        """Release an active hold; it stays in the registry as history."""
        hold = self.get(hold_id)
        if not hold.active:
            raise ConfigError(f"hold {hold_id} was already released at {stamp(hold.released_at)}")
        with self.state.write() as conn:
            conn.execute(
                update(holds)
                .where(holds.c.id == hold_id)
                .values(
                    released_at=self.state.now(),
                    released_by=released_by,
                    release_reason=reason,
                )
            )
            self.ledger.append(
                conn,
                [
                    EventDraft(
                        run_id="-",
                        event="hold_released",
                        dataset=hold.dataset,
                        item_key=hold.item_key,
                        details={"hold_id": hold_id, "by": released_by},
                    )
                ],
            )
        return self.get(hold_id)

    def get(self, hold_id: int) -> Hold:
        """One hold by id."""
        if not 0 < hold_id < 2**63:  # ids are 64-bit integers: no other id can exist
            raise NotFoundError(f"no hold with id {hold_id}; see `lethe hold list --all`")
        with self.state.read() as conn:
            row = conn.execute(select(holds).where(holds.c.id == hold_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no hold with id {hold_id}; see `lethe hold list --all`")
        return _hold(row)

    def list(self, dataset: str | None = None, *, include_released: bool = False) -> list[Hold]:
        """Holds, newest first; active ones only unless ``include_released``."""
        query = select(holds).order_by(holds.c.id.desc())
        if dataset is not None:
            query = query.where(holds.c.dataset == dataset)
        if not include_released:
            query = query.where(holds.c.released_at.is_(None))
        with self.state.read() as conn:
            return [_hold(row) for row in conn.execute(query).mappings()]

    def covering(self, dataset: str, keys: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """The ids of the active holds on each of ``keys`` (exact and prefix holds)."""
        query = select(holds.c.id, holds.c.item_key).where(
            holds.c.dataset == dataset, holds.c.released_at.is_(None)
        )
        with self.state.read() as conn:
            active = [(int(i), str(k)) for i, k in conn.execute(query)]
        return {key: tuple(i for i, held in active if _covers(held, key)) for key in keys}

    def active_keys(self, dataset: str, keys: Sequence[str] | None = None) -> AbstractSet[str]:
        """Keys of ``dataset`` under an active hold (restricted to ``keys`` when given).

        Without ``keys`` the answer is a :class:`HeldKeys`, whose ``in`` honours prefix holds.
        """
        query = select(holds.c.item_key).where(
            holds.c.dataset == dataset, holds.c.released_at.is_(None)
        )
        # Active holds are few: read them all (one small query whatever the batch size) and
        # intersect here, rather than sending a thousand keys to the state database.
        with self.state.read() as conn:
            held = HeldKeys.of(set(conn.execute(query).scalars()))
        if keys is None:
            return held
        if not held.prefixes:  # one set intersection, not a lookup per key
            return set(frozenset.intersection(held, keys))
        return {key for key in keys if key in held}
