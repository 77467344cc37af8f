"""The table-by-table removal (``stores/sql/setwise.py``) against the row-by-row one it
replaces where it applies: same rows left, same counts per table, and every cascaded row
counted for the same item (the first in key order whose deletion set holds it), on data
generated to share rows between items (a diamond, a row referencing two due items through two
columns, NULL links). SQLite (property) and PostgreSQL (one hand-made case)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, event, text

from lethe.config.datasets import DatasetConfig
from lethe.model.conditions import Before
from lethe.stores.sql import setwise
from lethe.stores.sql.store import SQLStore

NOW = datetime(2024, 6, 1, tzinfo=UTC)
DUE, LATER = "2024-01-01 00:00:00", "2025-01-01 00:00:00"

SCHEMA = [
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, due_at TIMESTAMP NOT NULL)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
    "account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE, "
    "referrer_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE)",
    "CREATE TABLE items (id INTEGER PRIMARY KEY, "
    "order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE, "
    "account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE)",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, "
    "item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE)",
]
TABLES = ["accounts", "orders", "items", "notes"]


def _build(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    _rebuild(url, data, SCHEMA)


def _purge(url: str, *, rows: bool, batch: int) -> tuple[list[Any], dict[str, set[Any]]]:
    """Purge every due account in batches of ``batch``; ``rows`` forces the row path.
    Returns each batch's outcome and the ids left per table."""
    store = SQLStore("app", url)
    handle = store.bind("accounts", DatasetConfig(table="accounts", key="id", due_column="due_at"))
    assert handle.setwise
    handle.setwise = not rows
    condition = Before("due_at", NOW)
    outcomes = []
    after = None
    while True:
        with handle.open_batch() as tx:
            items = tx.lock(condition, after=after, limit=batch, skip_locked=False)
            if not items:
                break
            keys = [i.key for i in items]
            assert tx.blockers(keys) == {}
            done = tx.delete(keys)
            outcomes.append((done.per_table, done.per_item, done.updated, done.updated_keys))
            after = keys[-1]
    left: dict[str, set[Any]] = {}
    with store.engine.connect() as conn:
        for table in TABLES:
            left[table] = set(conn.execute(text(f"SELECT id FROM {table}")).scalars())
    store.close()
    return outcomes, left


@st.composite
def _data(draw: st.DrawFn) -> dict[str, list[tuple[Any, ...]]]:
    n = draw(st.integers(1, 10))
    accounts = [(i, DUE if draw(st.booleans()) else LATER) for i in range(1, n + 1)]
    account = st.integers(1, n)
    orders = [
        (100 + i, draw(account), draw(st.none() | account)) for i in range(draw(st.integers(0, 12)))
    ]
    items = []
    if orders:
        order = st.sampled_from([o[0] for o in orders])
        items = [
            (200 + i, draw(order), draw(st.none() | account))
            for i in range(draw(st.integers(0, 15)))
        ]
    notes = []
    if items:
        item = st.sampled_from([i[0] for i in items])
        notes = [(300 + i, draw(item)) for i in range(draw(st.integers(0, 10)))]
    return {"accounts": accounts, "orders": orders, "items": items, "notes": notes}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_data(), batch=st.integers(1, 6))
def test_setwise_matches_the_row_path_on_sqlite(
    data: dict[str, list[tuple[Any, ...]]], batch: int
) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        _build(f"sqlite:///{folder / 'a.db'}", data)
        shutil.copy(folder / "a.db", folder / "b.db")
        fast = _purge(f"sqlite:///{folder / 'a.db'}", rows=False, batch=batch)
        slow = _purge(f"sqlite:///{folder / 'b.db'}", rows=True, batch=batch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert fast == slow
    # Nothing that references a kept account, directly or not, went; every due one went.
    due = {a for a, at in data["accounts"] if at == DUE}
    assert fast[1]["accounts"] == {a for a, _ in data["accounts"]} - due


# 1 and 2 due, 3 not. Order 101 references 2 and, as referrer, 1 (counted for 1); item 201 is
# reached from order 101 and directly from 2 (counted for 1); order 102 belongs to 2 though its
# referrer 3 is kept: it goes with 2; item 204 of the kept 3's order goes with 1.
CASE = {
    "accounts": [(1, DUE), (2, DUE), (3, LATER)],
    "orders": [(101, 2, 1), (102, 2, 3), (103, 3, None)],
    "items": [(201, 101, 2), (202, 102, None), (203, 103, None), (204, 103, 1)],
    "notes": [(301, 201), (302, 204), (303, 203)],
}


def test_setwise_matches_the_row_path_on_postgresql(pg_admin_url: str) -> None:
    from tests.conftest import _fresh_database

    found = []
    for rows in (False, True):
        with _fresh_database(pg_admin_url, force=True) as url:
            _build(url, CASE)
            found.append(_purge(url, rows=rows, batch=2))
    assert found[0] == found[1]
    outcomes, left = found[0]
    per_table, per_item, _, _ = outcomes[0]
    assert per_table == {"accounts": 2, "orders": 2, "items": 3, "notes": 2}
    assert per_item == {"1": {"orders": 1, "items": 2, "notes": 2}, "2": {"orders": 1, "items": 1}}
    assert left == {"accounts": {3}, "orders": {103}, "items": {203}, "notes": {303}}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", True),
        ('on_delete = { "items.account_id" = "block" }', False),
        ('on_delete = { "orders.referrer_id" = "set_null" }', False),
    ],
)
def test_setwise_only_where_no_row_needs_judging(
    tmp_path: Path, extra: str, expected: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _build(url, {t: [] for t in TABLES})
    store = SQLStore("app", url)
    on_delete = {}
    if extra:
        name, treatment = extra.split('"')[1], extra.split('"')[3]
        on_delete = {name: treatment}
    config = DatasetConfig(table="accounts", key="id", due_column="due_at", on_delete=on_delete)
    handle = store.bind("accounts", config)
    assert handle.setwise is expected
    assert setwise.applies(handle.cascade, "mariadb") is False
    store.close()


# -- PostgreSQL: the batch's deletes as one statement (stores/sql/chained.py) ---------------


def _rebuild(url: str, data: dict[str, list[tuple[Any, ...]]], schema: list[str]) -> None:
    """The tables (dropped first when they exist) with ``schema``, filled with ``data``."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        for statement in schema:
            conn.execute(text(statement))
        for table in TABLES:
            for row in data[table]:
                marks = ", ".join(f":p{i}" for i in range(len(row)))
                values = {f"p{i}": v for i, v in enumerate(row)}
                conn.execute(text(f"INSERT INTO {table} VALUES ({marks})"), values)
    engine.dispose()


@pytest.fixture(scope="module")
def pg_two(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    """Two databases of the session's server, reused across a property's examples."""
    from tests.conftest import _fresh_database

    with (
        _fresh_database(pg_admin_url, force=True) as a,
        _fresh_database(pg_admin_url, force=True) as b,
    ):
        yield a, b


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_data(), batch=st.integers(1, 6))
def test_one_statement_matches_the_row_path_on_postgresql(
    pg_two: tuple[str, str], data: dict[str, list[tuple[Any, ...]]], batch: int
) -> None:
    fast_url, slow_url = pg_two
    _rebuild(fast_url, data, SCHEMA)
    _rebuild(slow_url, data, SCHEMA)
    assert _purge(fast_url, rows=False, batch=batch) == _purge(slow_url, rows=True, batch=batch)


def test_a_batch_is_one_round_trip_for_its_deletes(pg_url: str) -> None:
    """One statement deletes the batch with every table of its cascade; nothing else of the
    batch's is sent between the lock and the commit."""
    _build(pg_url, CASE)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        outcomes, left = _purge(pg_url, rows=False, batch=2)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert outcomes[0][0] == {"accounts": 2, "orders": 2, "items": 3, "notes": 2}
    assert left == {"accounts": {3}, "orders": {103}, "items": {203}, "notes": {303}}
    assert "DELETE" not in sent
    assert sent.count("WITH") == 1  # one batch: 1 and 2 (3 is not due)


# The schema's keys refuse the delete (RESTRICT; NO ACTION, checked at the statement's end or
# deferred to the commit); the policy cascades them. Their checks run when the statement ends,
# after every clause of it has deleted its rows.
def _guarded(no_action: str) -> list[str]:
    return [
        SCHEMA[0],
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
        "account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT, "
        f"referrer_id INTEGER REFERENCES accounts(id){no_action})",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, "
        f"order_id INTEGER NOT NULL REFERENCES orders(id){no_action}, "
        "account_id INTEGER REFERENCES accounts(id) ON DELETE RESTRICT)",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, "
        f"item_id INTEGER NOT NULL REFERENCES items(id){no_action})",
    ]


@pytest.mark.parametrize("no_action", ["", " DEFERRABLE INITIALLY DEFERRED"])
def test_one_statement_under_restrict_and_no_action_keys(pg_url: str, no_action: str) -> None:
    schema = _guarded(no_action)
    _rebuild(pg_url, CASE, schema)
    store = SQLStore("app", pg_url)
    config = DatasetConfig(
        table="accounts",
        key="id",
        due_column="due_at",
        no_action="cascade",
        on_delete={
            "orders.account_id": "cascade",
            "orders.referrer_id": "cascade",
            "items.order_id": "cascade",
            "items.account_id": "cascade",
            "notes.item_id": "cascade",
        },
    )
    handle = store.bind("accounts", config)
    assert handle.setwise
    with handle.open_batch() as tx:
        items = tx.lock(Before("due_at", NOW), limit=10, skip_locked=False)
        done = tx.delete([i.key for i in items])
    assert done.per_table == {"accounts": 2, "orders": 2, "items": 3, "notes": 2}
    assert done.per_item == {
        "1": {"orders": 1, "items": 2, "notes": 2},
        "2": {"orders": 1, "items": 1},
    }
    with store.engine.connect() as conn:
        assert set(conn.execute(text("SELECT id FROM items")).scalars()) == {203}
    store.close()
