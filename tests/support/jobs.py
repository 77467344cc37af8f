"""A small application and policy file for job tests: ``items`` rows that are all due."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
)

from lethe.config import Settings, load_file

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
)

#: Long ago: every row of ``items`` is due whatever the clock says.
DUE = datetime(2000, 1, 1, tzinfo=UTC)


def make_items(url: str, count: int) -> None:
    """Create ``items`` with ``count`` due rows."""
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        if count:
            conn.execute(insert(items), [{"id": i, "due_at": DUE} for i in range(1, count + 1)])
    engine.dispose()


def remaining(url: str) -> int:
    """Rows of ``items`` left."""
    engine = create_engine(url)
    with engine.connect() as conn:
        left = int(conn.execute(select(func.count()).select_from(items)).scalar_one())
    engine.dispose()
    return left


def write_policy(
    directory: Path,
    app_url: str,
    jobs: str,
    *,
    state_url: str | None = None,
    extra: str = "",
    batch_size: int | str = 1000,
) -> Path:
    """``lethe.toml`` with the ``purge-items`` policy, the given ``[[jobs]]`` and extras."""
    state = f'[state]\nurl = "{state_url}"\n' if state_url else ""
    text = textwrap.dedent(f"""
        {state}
        [limits]
        batch_size = {batch_size}
        batch_seconds = 0
        [limits.breaker]
        enabled = false
        [stores.app]
        url = "{app_url}"
        [datasets.items]
        table = "items"
        key = "id"
        due_column = "due_at"
        cascade = "none"
        [policies.purge-items]
        dataset = "items"
        [[policies.purge-items.actions]]
        type = "purge"
        """)
    path = directory / "lethe.toml"
    path.write_text(text + textwrap.dedent(jobs) + textwrap.dedent(extra))
    return path


def settings_for(directory: Path, app_url: str, jobs: str, **options: object) -> Settings:
    """The loaded policy file of :func:`write_policy`."""
    return load_file(write_policy(directory, app_url, jobs, **options), env={})  # type: ignore[arg-type]


def at(text: str) -> datetime:
    """An instant from ISO 8601."""
    return datetime.fromisoformat(text).astimezone(UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def clear_of_slot_boundary(every_minutes: int, margin: timedelta) -> None:
    """Wait, if needed, until the next slot of an ``*/every_minutes`` schedule is more than
    ``margin`` away: a test that must see one slot cannot straddle two."""
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    next_slot = start + timedelta(minutes=every_minutes - now.minute % every_minutes)
    if next_slot - now <= margin:
        time.sleep((next_slot - now).total_seconds() + 1)
