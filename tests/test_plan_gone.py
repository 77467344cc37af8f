"""A plan remembers only the rows a later batch can still reach (``lethe.stores.sql.gone``).

The schema has what that pruning must get right: a table two foreign keys of the dataset's
table reach (``notes``: patient and therapist, the bench's ``clinical_notes``), a table hanging
from it (``replies``), a table reached through a cascade and blocking through a ``RESTRICT``
to the dataset's table (``reviews``), and one reached once (``diaries``). The oracles: the
same plan with every removed row remembered (what the plan did before), and the run itself.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from lethe import Lethe
from lethe.stores.sql import dataset as sql_dataset
from lethe.stores.sql.closure import Closure, Ident
from lethe.stores.sql.gone import Gone, places, revisited
from lethe.testing import ManualClock

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)

DDL = [
    "CREATE TABLE profiles (id INTEGER PRIMARY KEY, due_at TIMESTAMP NULL)",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY,"
    " patient_id INTEGER NULL REFERENCES profiles (id) ON DELETE CASCADE,"
    " therapist_id INTEGER NULL REFERENCES profiles (id) ON DELETE CASCADE)",
    "CREATE TABLE replies (id INTEGER PRIMARY KEY,"
    " note_id INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE)",
    "CREATE TABLE reviews (id INTEGER PRIMARY KEY,"
    " profile_id INTEGER NULL REFERENCES profiles (id) ON DELETE RESTRICT,"
    " note_id INTEGER NULL REFERENCES notes (id) ON DELETE CASCADE)",
    "CREATE TABLE diaries (id INTEGER PRIMARY KEY,"
    " profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE)",
]
#: The dataset's table referencing itself: a referral tree goes with its root.
REFERRALS = (
    "CREATE TABLE profiles (id INTEGER PRIMARY KEY, due_at TIMESTAMP NULL,"
    " referred_by INTEGER NULL REFERENCES profiles (id) ON DELETE CASCADE)"
)
TABLES = ["replies", "reviews", "notes", "diaries", "profiles"]

POLICY = """
[state]
url = "sqlite:///state.db"
runs_dir = ""
[limits]
batch_size = {batch}
batch_seconds = 0
{cap}
[limits.breaker]
enabled = false
[stores.app]
url = "{url}"
[datasets.profiles]
table = "profiles"
key = "id"
due_column = "due_at"
[policies.purge]
dataset = "profiles"
[[policies.purge.actions]]
type = "purge"
"""

Rows = dict[str, list[dict[str, Any]]]


class Everything(Gone):
    """Every removed row remembered: the plan before the pruning."""

    def __init__(self, cascade: Any, keys: Any) -> None:
        self.rows: set[tuple[str, Ident]] = set()

    def __contains__(self, entry: object) -> bool:
        return entry in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, closure: Closure, deleted: Any, bound: Any) -> None:
        self.rows |= {(t, i) for t, rows in deleted.items() for i in rows}


@contextmanager
def _lethe(url: str, rows: Rows, batch: int, cap: int | None = None) -> Iterator[Lethe]:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        referred = "referred_by" in (rows.get("profiles") or [{}])[0]
        for statement in [REFERRALS if referred else DDL[0], *DDL[1:]]:
            conn.execute(text(statement))
        for table in reversed(TABLES):
            if rows.get(table):
                columns = list(rows[table][0])
                conn.execute(
                    text(
                        f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join(':' + c for c in columns)})"
                    ),
                    rows[table],
                )
    engine.dispose()
    with (
        tempfile.TemporaryDirectory() as state_dir,
        Lethe.from_toml(
            POLICY.format(
                url=url, batch=batch, cap="" if cap is None else f"max_deletions = {cap}"
            ),
            base_dir=Path(state_dir),
            env={},
            clock=ManualClock(AS_OF),
        ) as lethe,
    ):
        yield lethe


def _plan(lethe: Lethe) -> tuple[tuple[Any, ...], dict[str, str], dict[str, int], int]:
    (phase,) = lethe.plan(as_of=AS_OF).phases
    return phase.keys, dict(phase.blocked), dict(phase.cascade), phase.capped


@st.composite
def data(draw: st.DrawFn) -> tuple[Rows, int, int | None]:
    n = draw(st.integers(2, 9))
    ids = list(range(1, n + 1))
    someone = st.sampled_from([None, *ids])
    due = AS_OF - timedelta(days=1)
    when = st.sampled_from([due, due, None, AS_OF + timedelta(days=1)])
    rows: Rows = {"profiles": [{"id": i, "due_at": draw(when)} for i in ids]}
    if draw(st.booleans()):
        for row in rows["profiles"]:
            row["referred_by"] = draw(st.sampled_from([None, *range(1, row["id"])]))
    rows["notes"] = [
        {"id": j, "patient_id": draw(someone), "therapist_id": draw(someone)}
        for j in range(1, draw(st.integers(0, 12)) + 1)
    ]
    notes = [None, *(r["id"] for r in rows["notes"])]
    if rows["notes"]:
        rows["replies"] = [
            {"id": j, "note_id": draw(st.sampled_from(notes[1:]))}
            for j in range(1, draw(st.integers(0, 6)) + 1)
        ]
    rows["reviews"] = [
        {"id": j, "profile_id": draw(someone), "note_id": draw(st.sampled_from(notes))}
        for j in range(1, draw(st.integers(0, 4)) + 1)
    ]
    rows["diaries"] = [
        {"id": j, "profile_id": draw(st.sampled_from(ids))}
        for j in range(1, draw(st.integers(0, 5)) + 1)
    ]
    return rows, draw(st.integers(1, 3)), draw(st.none() | st.integers(1, n))


def test_tables_reached_twice_are_the_ones_remembered(tmp_path: Path) -> None:
    with _lethe(f"sqlite:///{tmp_path / 'app.db'}", {}, 2) as lethe:
        cascade = lethe.runtime.dataset("profiles").cascade  # type: ignore[attr-defined]
        # notes: two keys to profiles; reviews: one to notes and a RESTRICT to profiles;
        # replies and diaries: one key each, met only through their parent row.
        assert revisited(cascade) == {"notes", "reviews"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=data())
def test_the_plan_is_the_one_remembering_everything_and_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[Rows, int, int | None]
) -> None:
    rows, batch, cap = case
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with _lethe(url, rows, batch, cap) as lethe:
        planned = _plan(lethe)
        with monkeypatch.context() as patched:
            patched.setattr(sql_dataset, "Gone", Everything)
            assert _plan(lethe) == planned
        keys, blocked, cascade, capped = planned
        phase = lethe.run(as_of=AS_OF).phases[0]
        assert phase.capped == capped
        # Rows per table, not acted and cascaded apart: a due profile in an earlier one's
        # referral tree is among the plan's keys, and cascaded in the run.
        assert _removed("profiles", len(keys), cascade) == _removed(
            "profiles", phase.acted, phase.cascade
        )
        assert phase.blocked == len(blocked)


def _removed(table: str, acted: int, cascade: dict[str, int]) -> dict[str, int]:
    rows = {**cascade, table: cascade.get(table, 0) + acted}
    return {t: n for t, n in rows.items() if n}


def _chain(profiles: int) -> Rows:
    """Every profile due; note i is written by patient i for therapist i + 1, replied to and
    reviewed by therapist i + 1 (the review goes with the note)."""
    due = AS_OF - timedelta(days=1)
    rows: Rows = {"profiles": [{"id": i, "due_at": due} for i in range(1, profiles + 1)]}
    rows["notes"] = [{"id": i, "patient_id": i, "therapist_id": i + 1} for i in range(1, profiles)]
    rows["replies"] = [{"id": i, "note_id": i} for i in range(1, profiles)]
    rows["reviews"] = [{"id": i, "profile_id": i + 1, "note_id": i} for i in range(1, profiles)]
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_plan_remembers_only_what_later_batches_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'app.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    sizes: dict[str, list[int]] = {"pruned": [], "everything": []}

    def recording(kind: type[Gone], name: str) -> type[Gone]:
        class Recorded(kind):  # type: ignore[valid-type,misc]
            def add(self, closure: Closure, deleted: Any, bound: Any) -> None:
                super().add(closure, deleted, bound)
                sizes[name].append(len(self))

        return Recorded

    with _lethe(url, _chain(400), 10) as lethe:
        plans = {}
        for name, kind in (("pruned", Gone), ("everything", Everything)):
            with monkeypatch.context() as patched:
                patched.setattr(sql_dataset, "Gone", recording(kind, name))
                plans[name] = _plan(lethe)
        assert plans["pruned"] == plans["everything"]
        keys, blocked, cascade, _capped = plans["pruned"]
        assert len(keys) == 400 and not blocked
        assert cascade == {"notes": 399, "replies": 399, "reviews": 399}
    # Before, the plan held every note, reply and review removed so far (~1,200 at the end).
    # Now no reply (met only through its note), the reviews (reached from notes and from
    # profiles: kept whole) and of the notes only the one referencing the next batch's first
    # therapist.
    assert max(sizes["everything"]) >= 1150
    assert max(sizes["pruned"]) <= 399 + 1


def test_a_blocked_item_is_not_counted_as_left_by_the_cap(tmp_path: Path) -> None:
    due = AS_OF - timedelta(days=1)
    rows: Rows = {
        "profiles": [{"id": i, "due_at": due} for i in (1, 2, 3)],
        # profile 1 is reviewed through a RESTRICT: it stays, whatever the cap.
        "reviews": [{"id": 1, "profile_id": 1, "note_id": None}],
    }
    with _lethe(f"sqlite:///{tmp_path / 'app.db'}", rows, 2, cap=1) as lethe:
        keys, blocked, _cascade, capped = _plan(lethe)
        assert (keys, list(blocked), capped) == ((2,), ["1"], 1)
        phase = lethe.run(as_of=AS_OF).phases[0]
        # Before, the run counted every row still eligible as capped, the blocked one too.
        assert (phase.acted, phase.blocked, phase.capped) == (1, 1, 1)


@given(
    keys=st.lists(st.integers(-50, 50) | st.text(max_size=3), unique=True).map(
        lambda ks: [k for k in ks if isinstance(k, type(ks[0]))] if ks else ks
    ),
    ordered=st.booleans(),
    probes=st.lists(st.integers(-60, 60) | st.text(max_size=3) | st.none(), max_size=8),
)
def test_a_keys_place_is_its_position_in_the_preview(
    keys: list[Any], ordered: bool, probes: list[Any]
) -> None:
    """Sorted keys (integers: the database's order is Python's) are bisected, others (text
    keys in a collation's order) looked up; either way a key's place is its position."""
    if ordered:
        keys = sorted(keys)
    place = places(keys)
    assert [place(k) for k in keys] == list(range(len(keys)))
    for probe in probes:
        assert place(probe) == (keys.index(probe) if probe in keys else None)


def test_text_keys_in_the_databases_order_are_placed_by_that_order() -> None:
    # A case-insensitive collation sorts "a" before "B"; Python puts "B" first.
    keys = ["a", "B", "c"]
    place = places(keys)
    assert (place("a"), place("B"), place("c"), place("b")) == (0, 1, 2, None)
