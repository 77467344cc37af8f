"""Conditions mean the same in Python, in SQLite and in PostgreSQL; pure decisions hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from lethe.config.model import BreakerConfig
from lethe.engine.decisions import GROWTH_CEILING, breaker_verdict, next_batch_size, partition
from lethe.model.conditions import (
    After,
    All,
    Any_,
    Before,
    Condition,
    DistinctFrom,
    Equals,
    In,
    IsNull,
    Not,
    NotNull,
    evaluate,
)
from lethe.stores.base import Item
from lethe.stores.sql.compile import compile_condition

BASE = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("n", Integer),
    Column("s", String(8)),
    Column("flag", Boolean),
    Column("ts", DateTime(timezone=True)),
    Column("day", Date),
)

instants = st.integers(-5 * 1440, 5 * 1440).map(lambda m: BASE + timedelta(minutes=m))
rows = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.one_of(st.none(), st.integers(-3, 3)),
            "s": st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
            "flag": st.one_of(st.none(), st.booleans()),
            "ts": st.one_of(st.none(), instants),
            "day": st.one_of(st.none(), instants.map(lambda t: t.date())),
        }
    ),
    max_size=12,
)
scalars: dict[str, st.SearchStrategy[Any]] = {
    "n": st.integers(-3, 3),
    "s": st.sampled_from(["a", "b", "c"]),
    "flag": st.booleans(),
}
leaves = st.one_of(
    st.sampled_from(list(scalars)).flatmap(
        lambda c: st.one_of(
            scalars[c].map(lambda v, c=c: Equals(c, v)),
            st.one_of(st.none(), scalars[c]).map(lambda v, c=c: DistinctFrom(c, v)),
            st.lists(scalars[c], max_size=3).map(lambda vs, c=c: In(c, tuple(vs))),
        )
    ),
    st.sampled_from(["n", "s", "flag", "ts", "day"]).map(IsNull),
    st.sampled_from(["n", "s", "flag", "ts", "day"]).map(NotNull),
    st.builds(Before, st.sampled_from(["ts", "day"]), instants, st.booleans()),
    st.builds(After, st.sampled_from(["ts", "day"]), instants, st.booleans()),
    st.builds(
        Before,
        st.just("day"),
        instants.map(lambda t: datetime(t.year, t.month, t.day, tzinfo=UTC)),
        st.booleans(),
    ),
)
conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda ps: All(tuple(ps))),
        st.lists(inner, max_size=3).map(lambda ps: Any_(tuple(ps))),
        inner.map(Not),
    ),
    max_leaves=6,
)


def _same_as_python(url: str, data: list[dict[str, Any]], condition: Condition) -> None:
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            for i, row in enumerate(data, start=1):
                conn.execute(insert(things).values(id=i, **row))
        sqlite = engine.dialect.name == "sqlite"
        query = select(things.c.id).where(compile_condition(condition, things, sqlite=sqlite))
        with engine.connect() as conn:
            selected = set(conn.execute(query).scalars())
    finally:
        engine.dispose()
    expected = {i for i, row in enumerate(data, start=1) if evaluate(condition, row)}
    assert selected == expected, condition


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rows, condition=conditions)
def test_sqlite_selects_what_python_selects(tmp_path: Any, data: Any, condition: Any) -> None:
    _same_as_python(f"sqlite:///{tmp_path / 'c.db'}", data, condition)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rows, condition=conditions)
def test_postgresql_selects_what_python_selects(pg_url: str, data: Any, condition: Any) -> None:
    _same_as_python(pg_url, data, condition)


def test_dates_count_from_midnight_utc() -> None:
    row = {"day": date(2025, 1, 15)}
    midnight = datetime(2025, 1, 15, tzinfo=UTC)
    assert evaluate(Before("day", midnight), row)
    assert not evaluate(Before("day", midnight, inclusive=False), row)
    assert evaluate(Before("day", midnight + timedelta(hours=1), inclusive=False), row)


items = st.lists(st.tuples(st.integers(0, 50), st.booleans()), unique_by=lambda t: t[0])


@given(
    items=items,
    registry=st.sets(st.integers(0, 50).map(str)),
    blocked=st.sets(st.integers(0, 50).map(str)),
    cap=st.one_of(st.none(), st.integers(0, 10)),
)
def test_partition_puts_holds_first_then_guards_then_the_cap(
    items: list[tuple[int, bool]], registry: set[str], blocked: set[str], cap: int | None
) -> None:
    split = partition(
        [Item(k, h) for k, h in items], registry, dict.fromkeys(blocked, "waiting"), cap
    )
    acted = set(split.act)
    for key, held in items:
        if held or str(key) in registry:
            assert key in split.held and key not in acted
    assert not acted & {int(k) for k in split.blocked}
    assert cap is None or len(split.act) <= cap
    free = [k for k, h in items if not h and str(k) not in registry and str(k) not in blocked]
    assert list(split.act) == free[: len(split.act)]  # key order is kept
    assert len(split.act) + split.capped == len(free)


@given(
    rows=st.integers(0, 1000),
    size=st.integers(0, 1000),
    max_rows=st.integers(0, 1000),
    max_percent=st.floats(0, 100),
    mode=st.sampled_from(["and", "or"]),
)
def test_the_breaker_trips_exactly_when_its_thresholds_say(
    rows: int, size: int, max_rows: int, max_percent: float, mode: str
) -> None:
    breaker = BreakerConfig(max_rows=max_rows, max_percent=max_percent, mode=mode)  # type: ignore[arg-type]
    verdict = breaker_verdict({"t": rows}, {"t": size}, breaker)
    percent = 100.0 if size == 0 else 100.0 * rows / size
    over = (rows > max_rows, percent > max_percent)
    expected = rows > 0 and (all(over) if mode == "and" else any(over))
    assert (verdict is not None) == expected
    assert breaker_verdict({"t": rows}, {"t": size}, BreakerConfig(enabled=False)) is None


@given(
    base=st.integers(1, 5000),
    factor=st.floats(0.1, float(GROWTH_CEILING)),
    target=st.floats(0.01, 5),
    seconds=st.floats(0.0001, 100),
)
def test_adaptive_batches_move_toward_the_target_within_bounds(
    base: int, factor: float, target: float, seconds: float
) -> None:
    size = max(1, int(base * factor))
    nxt = next_batch_size(size, base, target, size, seconds)
    assert max(1, base // 10) <= nxt <= base * GROWTH_CEILING
    suggested = size * target / seconds
    if seconds > target:  # too slow: shrink at once to what the batch suggests (or the floor)
        assert nxt <= max(size, base // 10)
        assert nxt == round(max(max(1, base // 10), min(suggested, base * GROWTH_CEILING)))
    else:  # fast enough: grow, but never past what the batch suggests
        assert nxt >= min(size, base * GROWTH_CEILING)
        assert nxt <= round(max(suggested, max(1, base // 10)))


def test_a_batch_that_was_not_full_or_not_timed_keeps_its_size() -> None:
    assert next_batch_size(1000, 1000, 0.25, 999, 0.01) == 1000  # end of the data
    assert next_batch_size(1000, 1000, 0.25, 1000, 0.0) == 1000
    assert next_batch_size(1000, 1000, 0.0, 1000, 5.0) == 1000  # batch_seconds = 0: fixed
    assert next_batch_size(1000, 1000, 0.25, 1000, 2.5) == 100  # ten times too slow


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rows, condition=conditions)
def test_mariadb_selects_what_python_selects(mariadb_url: str, data: Any, condition: Any) -> None:
    _same_as_python(mariadb_url, data, condition)
