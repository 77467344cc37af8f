"""Helpers to load the examples' application schemas and run lethe against them."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from lethe import Lethe, RunResult
from lethe.testing import Clock, ManualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Engines created by the helpers; the suite disposes them after each test.
OPEN_ENGINES: list[Engine] = []

#: The instant every example is seeded around and evaluated at.
NOW = datetime(2024, 10, 26, 2, 0, tzinfo=UTC)


def example_module(name: str) -> ModuleType:
    """``examples/<name>/app.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded(name: str, url: str, now: datetime = NOW) -> tuple[ModuleType, Engine]:
    """Create and seed an example's tables at ``url``."""
    module = example_module(name)
    engine = engine_for(url)
    module.seed(engine, now)
    return module, engine


def engine_for(url: str) -> Engine:
    """An engine that the test suite disposes after the test."""
    engine = create_engine(url)
    OPEN_ENGINES.append(engine)
    return engine


# A warn phase block of an example, up to the next table header.
_WARN_PHASE = re.compile(r'\[\[policies\.[\w-]+\.actions\]\]\ntype = "warn".*?(?=\n\[)', re.S)


def example_policy(name: str, *, warnings: bool = False) -> str:
    """An example's policy file; without its warn phases unless ``warnings`` (the engine
    tests use the Census policy as a plain soft-delete-then-purge policy)."""
    text_ = (EXAMPLES / name / "lethe.toml").read_text()
    return text_ if warnings else _WARN_PHASE.sub("", text_)


def example_lethe(
    name: str,
    url: str,
    state_dir: Path,
    policy: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> Lethe:
    """The example's policy file (without warnings, unless ``policy`` says otherwise),
    pointed at ``url``, with lethe's state under ``state_dir``.

    Time is ``clock``, by default a :class:`~lethe.testing.ManualClock` standing at
    :data:`NOW`, the instant the examples are seeded around: tests move it to simulate days.
    """
    text_ = policy if policy is not None else example_policy(name)
    env = {"DATABASE_URL": url, **(env or {})}
    return Lethe.from_toml(text_, base_dir=state_dir, env=env, clock=clock or ManualClock(NOW))


def run_at(lethe: Lethe, instant: datetime, *args: Any, **kwargs: Any) -> RunResult:
    """Move ``lethe``'s :class:`~lethe.testing.ManualClock` to ``instant`` and run there: how
    the tests simulate days (a real run never acts at an ``as_of`` ahead of its clock)."""
    assert isinstance(lethe.clock, ManualClock), "run_at needs a Lethe built with a ManualClock"
    lethe.clock.set(instant)
    return lethe.run(*args, **kwargs)


def column_values(engine: Engine, table: Any, key: str, column: str) -> dict[Any, Any]:
    """``{key: column}`` for every row of ``table``."""
    with engine.connect() as conn:
        rows = conn.execute(select(table.c[key], table.c[column])).all()
    return {row[0]: row[1] for row in rows}


def keys(engine: Engine, table: Any, key: str = "id") -> set[Any]:
    """The keys present in ``table``."""
    with engine.connect() as conn:
        return set(conn.execute(select(table.c[key])).scalars())


def count(engine: Engine, table_name: str) -> int:
    """Rows in a table."""
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table_name}")).scalar_one())


def as_utc(value: datetime | None) -> datetime | None:
    """Normalise a timestamp read back from SQLite (naive) or PostgreSQL (aware)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def schema_on(backend: str, request: Any, tmp_path: Path, schema: str) -> str:
    """The URL of a database on ``backend`` (``sqlite``, ``postgresql``, ``mariadb``) holding
    ``schema``: statements separated by ``;``, with ``{ts}`` for the backend's timestamp type."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = str(request.getfixturevalue("pg_url" if backend == "postgresql" else "mariadb_url"))
    engine = engine_for(url)
    ts = "DATETIME" if engine.dialect.name == "mysql" else "TIMESTAMP"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        for statement in schema.format(ts=ts).split(";"):
            conn.exec_driver_sql(statement)
    return url


def rows(engine: Engine, query: str) -> set[tuple[Any, ...]]:
    """The rows ``query`` returns, as a set of tuples."""
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(text(query)).all()}
