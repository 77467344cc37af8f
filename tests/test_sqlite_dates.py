"""Dates on SQLite: a value that is no readable date is *unreadable* — never due, counted and
listed like a blob or Redis item whose age cannot be read, and explained by ``lethe explain``.

Before: a number in a date column was read as a Julian day (``12345`` is 4679 BC: due, and
soft-deleted), text such as ``soon`` was silently never due, and ``lethe explain`` crashed on
both. An independent oracle (Python parsing the ISO text the test wrote) checks the SQL on
random values in every format SQLite dates, with time-zone offsets up to ±14:59.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, Table, create_engine, text

from lethe import Lethe
from lethe.model.conditions import All, Before, IsNull, Not, Unreadable
from lethe.stores.sql.compile import compile_condition

AS_OF = datetime(2024, 10, 26, 2, 0, tzinfo=UTC)

POLICY = """
[stores.app]
url = "sqlite:///{db}"
[datasets.surveys]
table = "surveys"
key = "id"
due_column = "deletion_date"
[policies.gov]
dataset = "surveys"
[[policies.gov.actions]]
type = "soft_delete"
column = "deleted_at"
"""

#: id → what the application wrote in ``deletion_date`` (a DATETIME column).
STORED: dict[int, Any] = {
    1: "2024-10-20 02:00:00",  # readable and due
    2: "2024-10-26T03:30:00+02:00",  # readable, due: 01:30 UTC
    3: "2024-11-20 02:00:00",  # readable, not due yet
    4: 12345,  # a number: a Julian day to julianday(), 4679 BC
    5: "soon",
    6: 2460000.5,  # a Julian day as REAL (2023-02-24)
    7: "12:30",  # a time alone: 2000-01-01 12:30 to julianday()
    8: "now",  # julianday('now') is the current instant
    9: b"\x00\xff",  # a blob
    10: None,  # no date: not due, and not unreadable either
    11: "2024-10-20 02:00:00 tomorrow",
}
UNREADABLE = {4, 5, 6, 7, 8, 9, 11}


def _database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE surveys (id INTEGER PRIMARY KEY, deletion_date DATETIME, "
            "deleted_at DATETIME)"
        )
        db.executemany("INSERT INTO surveys (id, deletion_date) VALUES (?, ?)", STORED.items())


def test_numbers_and_garbage_in_a_date_column_are_unreadable_never_due(tmp_path: Path) -> None:
    _database(tmp_path / "app.db")
    with Lethe.from_toml(POLICY.format(db=tmp_path / "app.db"), base_dir=tmp_path) as lethe:
        (phase,) = lethe.plan(as_of=AS_OF).phases
        assert sorted(int(k) for k in phase.keys) == [1, 2]
        assert sorted(int(k) for k in phase.unreadable) == sorted(UNREADABLE)
        result = lethe.run(as_of=AS_OF)
        assert result.phases[0].acted == 2 and result.phases[0].unreadable == len(UNREADABLE)
        with sqlite3.connect(tmp_path / "app.db") as db:
            marked = {
                i for (i,) in db.execute("SELECT id FROM surveys WHERE deleted_at IS NOT NULL")
            }
        assert marked == {1, 2}  # before: 4 and 6 went too (read as Julian days)
        record = lethe.run_record(result.run_id)
        assert record["phases"][0]["unreadable"] == len(UNREADABLE)

        number = lethe.explain("surveys", "4", as_of=AS_OF)  # before: a traceback
        assert number.row["deletion_date"] == Unreadable("12345")
        (verdict,) = number.verdicts
        assert not verdict.selected_now and verdict.from_instant is None
        assert verdict.unmet[0].startswith("deletion_date to hold a readable date (it holds 12345")
        words = lethe.explain("surveys", "5", as_of=AS_OF)
        assert words.row["deletion_date"] == Unreadable("'soon'")
        blob = lethe.explain("surveys", "9", as_of=AS_OF)
        assert blob.row["deletion_date"] == Unreadable("X'00FF'")
        empty = lethe.explain("surveys", "10", as_of=AS_OF)
        assert empty.row["deletion_date"] is None  # missing is not unreadable
        later = lethe.explain("surveys", "3", as_of=AS_OF)
        assert later.verdicts[0].from_instant == datetime(2024, 11, 20, 2, 0, tzinfo=UTC)


def test_the_due_comparison_uses_an_index_on_the_date_column(tmp_path: Path) -> None:
    _database(tmp_path / "app.db")
    with sqlite3.connect(tmp_path / "app.db") as db:
        db.execute("CREATE INDEX surveys_due ON surveys (deletion_date)")
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    table = Table("surveys", MetaData(), autoload_with=engine)
    where = compile_condition(Before("deletion_date", AS_OF), table, sqlite=True)
    sql = where.compile(engine, compile_kwargs={"literal_binds": True})
    query = f"SELECT count(*) FROM surveys WHERE {sql}"
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
        assert "USING COVERING INDEX surveys_due" in plan, plan
        assert conn.execute(text(query)).scalar_one() == 2
    engine.dispose()


# -- the SQL against an oracle ------------------------------------------------------------------

#: SQLite's date formats, each with the precision it keeps.
_FORMATS = {
    "%Y-%m-%d": timedelta(days=1),
    "%Y-%m-%d %H:%M": timedelta(minutes=1),
    "%Y-%m-%d %H:%M:%S": timedelta(seconds=1),
    "%Y-%m-%dT%H:%M:%S": timedelta(seconds=1),
    "%Y-%m-%d %H:%M:%S.%f": timedelta(milliseconds=1),
}
_EPOCH = datetime(2000, 1, 1)


@st.composite
def readable(draw: st.DrawFn) -> tuple[str, datetime]:
    """ISO text as an application may write it, and the instant it means (the oracle)."""
    fmt = draw(st.sampled_from(sorted(_FORMATS)))
    local = draw(st.datetimes(min_value=datetime(2024, 9, 1), max_value=datetime(2024, 12, 31)))
    step = _FORMATS[fmt]
    local = _EPOCH + (local - _EPOCH) // step * step  # what the format can hold
    written = local.strftime(fmt)[:-3] if fmt.endswith("%f") else local.strftime(fmt)
    if fmt == "%Y-%m-%d":
        return written, local.replace(tzinfo=UTC)
    offset = draw(st.one_of(st.none(), st.just(0), st.integers(-(14 * 60 + 59), 14 * 60 + 59)))
    if offset is None:
        return written, local.replace(tzinfo=UTC)
    sign = "+" if offset >= 0 else "-"
    suffix = "Z" if offset == 0 else f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return written + suffix, (local - timedelta(minutes=offset)).replace(tzinfo=UTC)


garbage = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12).filter(lambda t: not t[:4].isdigit()),
    st.sampled_from(["now", "12:30", "2024-13-01", "2024-10-26 tomorrow", "0", "2460000.5"]),
    st.binary(max_size=6),
)
Stored = tuple[str, datetime] | int | float | str | bytes | None
TABLE = """
[stores.app]
url = "{url}"
[datasets.t]
table = "t"
key = "id"
due_column = "due"
[policies.p]
dataset = "t"
[[policies.p.actions]]
type = "purge"
"""


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), readable(), garbage), st.booleans()),
        min_size=1,
        max_size=25,
    ),
    hours=st.integers(-2000, 2000),
)
def test_selection_and_unreadable_flags_match_the_oracle(
    tmp_path_factory: Any, rows: list[tuple[Stored, bool]], hours: int
) -> None:
    directory = tmp_path_factory.mktemp("dates")
    with sqlite3.connect(directory / "app.db") as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, due DATETIME, gone DATETIME)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            [
                (i, value[0] if isinstance(value, tuple) else value, "2024-01-01" if gone else None)
                for i, (value, gone) in enumerate(rows)
            ],
        )
    cutoff = AS_OF + timedelta(hours=hours)
    with Lethe.from_toml(TABLE.format(url=f"sqlite:///{directory / 'app.db'}")) as lethe:
        dataset = lethe.runtime.dataset("t")
        for condition in (
            Before("due", cutoff),
            All((Before("due", cutoff), IsNull("gone"))),
            All((Not(Before("due", cutoff)), IsNull("gone"))),
        ):
            found = {int(item.key): item.unreadable for item in dataset.iter_select(condition)}
            expected = {
                i: verdict is None
                for i, (value, gone) in enumerate(rows)
                if (verdict := _oracle(condition, value, gone, cutoff)) is not False
            }
            assert found == expected, condition


def _oracle(condition: Any, value: Stored, gone: bool, cutoff: datetime) -> bool | None:
    """The three-valued verdict from the instant the test meant: None when an unreadable date
    leaves it unknown; a NULL date selects nothing and is not unreadable."""
    if value is None:
        return False
    due = value[1] <= cutoff if isinstance(value, tuple) else None
    if isinstance(condition, Before):
        return due
    if gone:
        return False
    if isinstance(condition.parts[0], Not):
        return None if due is None else not due
    return due
