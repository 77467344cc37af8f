"""The circuit breaker counts in slices of the key range (``lethe.stores.sql.slices``): on
data that does not change, the slices add up to exactly the single-transaction count, for a
tree of cascade tables, a table two edges reach and one below it, with and without a cap;
and the breaker trips exactly when the exact count is over a threshold (a threshold equal to
the count does not trip, one below it does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from lethe import Lethe
from lethe.config.model import BreakerConfig
from lethe.engine.planning import Breaker, counted_removals
from lethe.stores.sql import slices
from tests.support.apps import NOW, engine_for, schema_on

SCHEMA = """
CREATE TABLE profiles (id INTEGER PRIMARY KEY, created_at {ts} NOT NULL);
CREATE TABLE check_ins (id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE);
CREATE TABLE replies (id INTEGER PRIMARY KEY,
    check_in_id INTEGER NOT NULL REFERENCES check_ins (id) ON DELETE CASCADE);
CREATE TABLE pairs (id INTEGER PRIMARY KEY,
    patient_id INTEGER REFERENCES profiles (id) ON DELETE CASCADE,
    therapist_id INTEGER REFERENCES profiles (id) ON DELETE CASCADE);
CREATE TABLE pair_notes (id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE)
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.people]
table = "profiles"
key = "id"
age_column = "created_at"
retain = "30d"

[policies.expire]
dataset = "people"
[[policies.expire.actions]]
type = "purge"
{limits}
[state]
url = "sqlite:///{state}"
"""

TABLES = ("pair_notes", "pairs", "replies", "check_ins", "profiles")


@st.composite
def datasets(draw: Any) -> dict[str, list[tuple[Any, ...]]]:
    n = draw(st.integers(0, 30))
    due = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    old, new = NOW - timedelta(days=90), NOW - timedelta(days=1)
    data: dict[str, list[tuple[Any, ...]]] = {
        "profiles": [(i + 1, old if d else new) for i, d in enumerate(due)]
    }
    ids = st.integers(1, n) if n else st.none()
    data["check_ins"] = [(i + 1, u) for i, u in enumerate(draw(st.lists(ids, max_size=40)))]
    checks = st.integers(1, len(data["check_ins"])) if data["check_ins"] else st.none()
    data["replies"] = [(i + 1, c) for i, c in enumerate(draw(st.lists(checks, max_size=40)))]
    maybe = st.one_of(st.none(), ids)
    pairs = draw(st.lists(st.tuples(maybe, maybe), max_size=30))
    data["pairs"] = [(i + 1, p, t) for i, (p, t) in enumerate(pairs)]
    notes = st.integers(1, len(pairs)) if pairs else st.none()
    data["pair_notes"] = [(i + 1, p) for i, p in enumerate(draw(st.lists(notes, max_size=30)))]
    # A check-in, reply or note with nothing to reference is not generated; a pair may lack
    # either side.
    return {t: [r for r in rows if t == "pairs" or r[1] is not None] for t, rows in data.items()}


def _load(engine: Engine, data: dict[str, list[tuple[Any, ...]]]) -> None:
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        for table in reversed(TABLES):
            for row in data[table]:
                marks = ", ".join(f":v{i}" for i in range(len(row)))
                conn.execute(
                    text(f"INSERT INTO {table} VALUES ({marks})"),
                    {f"v{i}": v for i, v in enumerate(row)},
                )


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Lethe, Engine]]:
    url = schema_on(request.param, request, tmp_path, SCHEMA)
    policy = tmp_path / "lethe.toml"
    policy.write_text(POLICY.format(url=url, limits="", state=tmp_path / "state.db"))
    with Lethe.from_file(policy, env={}) as lethe:
        yield lethe, engine_for(url)


def _exact(lethe: Lethe, cap: int | None) -> dict[str, int]:
    """Today's exact count: the roots in one statement, each cascade table in another."""
    target = lethe.runtime.target("expire")
    selection = target.selection(0, NOW)
    eligible, _ = target.handle.count(selection)
    acting = eligible if cap is None else min(cap, eligible)
    rows = {"profiles": acting}
    if acting:
        rows.update(target.handle.cascade_counts_where(selection, limit=acting))
    return {t: n for t, n in rows.items() if n}


def test_the_bench_shape_is_sliced_as_tree_shared_and_whole(app: tuple[Lethe, Engine]) -> None:
    handle: Any = app[0].runtime.target("expire").handle
    tree, shared, whole = slices.shared_and_tree(handle.cascade)
    assert (sorted(tree), shared, whole) == (["check_ins", "replies"], ["pairs"], ["pair_notes"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=datasets(),
    first=st.integers(1, 4),
    cap=st.one_of(st.none(), st.integers(0, 25)),
    pick=st.sampled_from(TABLES),
    below=st.booleans(),
)
def test_sliced_counts_are_the_exact_counts_and_trip_the_breaker_as_they_would(
    app: tuple[Lethe, Engine],
    data: dict[str, list[tuple[Any, ...]]],
    first: int,
    cap: int | None,
    pick: str,
    below: bool,
) -> None:
    lethe, engine = app
    _load(engine, data)
    target = lethe.runtime.target("expire")
    selection = target.selection(0, NOW)
    exact = _exact(lethe, cap)
    saved = slices.FIRST_SLICE
    slices.FIRST_SLICE = first  # slices of a handful of rows: many of them
    try:
        summed: dict[str, int] = {}
        steps = list(target.handle.removal_counts(selection, limit=cap, cascades=True))
        for step in steps:
            for table, n in step.rows.items():
                summed[table] = summed.get(table, 0) + n
        assert [s.last for s in steps] == [False] * (len(steps) - 1) + [True]
        assert {t: n for t, n in summed.items() if n} == exact
        assert sum(s.items for s in steps) == exact.get("profiles", 0)

        # A threshold exactly at a table's exact count does not trip; one below it does (the
        # policy has no cap: the capped counts are the sums above).
        exact = _exact(lethe, None)
        count = exact.get(pick, 0)
        breaker = Breaker(lethe.runtime, target)
        if below and count == 0:
            return
        limit = count - 1 if below else count
        breaker.config = BreakerConfig(max_rows=limit, max_percent=100, mode="or")
        others = {t: n for t, n in exact.items() if t != pick}
        if any(n > limit for n in others.values()):
            return  # another table would trip it: not this table's threshold
        verdict = breaker.judge(NOW)
        rows, partial = counted_removals(
            lethe.runtime, target, NOW, lambda r: breaker.reason(r) is not None
        )
        assert (verdict is not None) == below
        if below:
            assert rows.get(pick, 0) > limit and rows.get(pick, 0) <= count
            assert ("at least" in verdict) == partial  # type: ignore[operator]
        else:
            assert not partial and {t: n for t, n in rows.items() if n} == exact
    finally:
        slices.FIRST_SLICE = saved
