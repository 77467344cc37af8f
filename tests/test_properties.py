"""Property-based tests of lethe's promises, against real databases.

For random tables of surveys (due dates, soft-delete marks, holds in the application's table and
in lethe's registry, child rows) and random caps, one run must: never touch a held or not-yet-due
survey; leave no due, unheld survey behind (up to the cap); do exactly what the plan said; make a
second run a no-op; and leave an audit chain that verifies.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import as_utc

AS_OF = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=30)

metadata = MetaData()
surveys = Table(
    "surveys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deletion_date", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
)
responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", ForeignKey("surveys.id"), nullable=False, index=True),
)
app_holds = Table(
    "holds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", Integer, nullable=False, index=True),
    Column("removed_at", DateTime(timezone=True)),
)

POLICY = """
[state]
url = "sqlite:///state.db"
runs_dir = ""
[limits]
batch_size = {batch}
{cap}
[limits.breaker]
enabled = false
[stores.app]
url = "{url}"
[datasets.surveys]
table = "surveys"
key = "id"
due_column = "deletion_date"
cascade = [{{ table = "responses", columns = ["survey_id"] }}]
holds = {{ table = "holds", column = "survey_id", released_column = "removed_at" }}
[policies.gov]
dataset = "surveys"
[[policies.gov.actions]]
type = "soft_delete"
[[policies.gov.actions]]
type = "purge"
grace = "30d"
"""


@dataclass(frozen=True)
class Survey:
    due_in: int | None  # minutes from AS_OF; None: no deletion date
    deleted_ago: int | None  # minutes before AS_OF the survey was soft-deleted
    app_hold: str | None  # None, "active", "released"
    registry_hold: bool
    children: int


minutes = st.integers(-90 * 1440, 90 * 1440)
survey = st.builds(
    Survey,
    due_in=st.one_of(st.none(), minutes, st.sampled_from([0, -1, 1])),
    deleted_ago=st.one_of(
        st.none(),
        st.integers(0, 90 * 1440),
        st.sampled_from([30 * 1440, 30 * 1440 + 1, 30 * 1440 - 1]),
    ),
    app_hold=st.sampled_from([None, None, "active", "released"]),
    registry_hold=st.booleans(),
    children=st.integers(0, 3),
)
scenarios = st.tuples(
    st.lists(survey, min_size=1, max_size=25),
    st.one_of(st.none(), st.integers(0, 8)),
    st.sampled_from([1, 3, 1000]),
)


def _load(url: str, rows: list[Survey]) -> None:
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        child = itertools.count(1)
        with engine.begin() as conn:
            for sid, s in enumerate(rows, start=1):
                conn.execute(
                    insert(surveys).values(
                        id=sid,
                        deletion_date=None
                        if s.due_in is None
                        else AS_OF + timedelta(minutes=s.due_in),
                        deleted_at=(
                            None
                            if s.deleted_ago is None
                            else AS_OF - timedelta(minutes=s.deleted_ago)
                        ),
                    )
                )
                for _ in range(s.children):
                    conn.execute(insert(responses).values(id=next(child), survey_id=sid))
                if s.app_hold:
                    removed = AS_OF - timedelta(days=1) if s.app_hold == "released" else None
                    conn.execute(insert(app_holds).values(survey_id=sid, removed_at=removed))
    finally:
        engine.dispose()


def _state(url: str) -> dict[int, tuple[datetime | None, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            marks = {r.id: as_utc(r.deleted_at) for r in conn.execute(select(surveys))}
            kids: dict[int, int] = {}
            for (sid,) in conn.execute(select(responses.c.survey_id)):
                kids[sid] = kids.get(sid, 0) + 1
    finally:
        engine.dispose()
    return {sid: (mark, kids.get(sid, 0)) for sid, mark in marks.items()}


def _check_promises(url: str, rows: list[Survey], cap: int | None, batch: int) -> None:
    _load(url, rows)
    with tempfile.TemporaryDirectory() as state_dir:
        policy = POLICY.format(
            url=url, batch=batch, cap="" if cap is None else f"max_deletions = {cap}"
        )
        with Lethe.from_toml(
            policy, base_dir=Path(state_dir), env={}, clock=ManualClock(AS_OF)
        ) as lethe:
            for sid, s in enumerate(rows, start=1):
                if s.registry_hold:
                    lethe.holds.add("surveys", str(sid), "property test", "hypothesis")
            before = _state(url)
            plan = lethe.plan(as_of=AS_OF)
            result = lethe.run(as_of=AS_OF)
            after = _state(url)
            _assert_run(rows, cap, before, after)
            acted = {
                (e["phase"], e["item_key"])
                for e in lethe.runtime.ledger.iter_events()
                if e["event"] in ("soft_deleted", "hard_deleted")
            }
            planned = {(p.phase, str(k)) for p in plan.phases for k in p.keys}
            assert acted == planned, "the run did not do what the plan said"
            assert [p.acted for p in result.phases] == [len(p.keys) for p in plan.phases]
            if cap is None:
                again = lethe.run(as_of=AS_OF)
                assert again.deleted == 0 and _state(url) == after
            assert lethe.verify_audit().ok


def _assert_run(
    rows: list[Survey],
    cap: int | None,
    before: dict[int, tuple[datetime | None, int]],
    after: dict[int, tuple[datetime | None, int]],
) -> None:
    acted = 0
    for sid, s in enumerate(rows, start=1):
        mark, kids = before[sid]
        held = s.registry_hold or s.app_hold == "active"
        due_soft = s.due_in is not None and s.due_in <= 0 and mark is None
        due_purge = mark is not None and mark < AS_OF - GRACE
        if held or not (due_soft or due_purge):
            assert after.get(sid) == (mark, kids), f"survey {sid} changed: held or not due"
            continue
        if sid not in after:
            assert due_purge, f"survey {sid} deleted without being due"
            acted += 1
        elif after[sid] != (mark, kids):
            assert due_soft and after[sid] == (AS_OF, kids), f"survey {sid} wrongly changed"
            acted += 1
        elif cap is None:
            raise AssertionError(f"survey {sid} was due, not held, and kept")
    if cap is not None:
        assert acted <= cap
        eligible = sum(
            1
            for sid, s in enumerate(rows, start=1)
            if not (s.registry_hold or s.app_hold == "active")
            and (
                (s.due_in is not None and s.due_in <= 0 and before[sid][0] is None)
                or (before[sid][0] is not None and before[sid][0] < AS_OF - GRACE)
            )
        )
        assert acted == min(cap, eligible), "the cap was not used up while items were due"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios)
def test_promises_hold_on_sqlite(tmp_path: Path, scenario: Any) -> None:
    rows, cap, batch = scenario
    _check_promises(f"sqlite:///{tmp_path / 'app.db'}", rows, cap, batch)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios)
def test_promises_hold_on_postgresql(pg_url: str, scenario: Any) -> None:
    rows, cap, batch = scenario
    _check_promises(pg_url, rows, cap, batch)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios)
def test_promises_hold_on_mariadb(mariadb_url: str, scenario: Any) -> None:
    rows, cap, batch = scenario
    _check_promises(mariadb_url, rows, cap, batch)


@pytest.mark.parametrize("cap", [1, 2])
def test_capped_runs_finish_the_work_over_several_runs(tmp_path: Path, cap: int) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    rows = [
        Survey(-10, None, None, False, 1),
        Survey(-5, 40 * 1440, None, False, 2),
        Survey(-1, None, "active", False, 0),
        Survey(3, None, None, False, 1),
        Survey(-2, 31 * 1440, None, False, 0),
    ]
    _load(url, rows)
    policy = POLICY.format(url=url, batch=1000, cap=f"max_deletions = {cap}")
    with Lethe.from_toml(policy, base_dir=tmp_path, env={}, clock=ManualClock(AS_OF)) as lethe:
        runs = 0
        while lethe.run(as_of=AS_OF).deleted:
            runs += 1
        assert runs == -(-3 // cap)  # soft delete 1, purge 2 and 5
        state = _state(url)
        assert set(state) == {1, 3, 4} and state[1][0] == AS_OF
