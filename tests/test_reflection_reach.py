"""A dataset reflects only the tables its purge can reach: on a schema of hundreds of other
tables, binding it reflects its table and the tables referencing it (transitively), not the
rest, and the cascade built from those is the one built from the whole schema. SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, text

from lethe import Lethe
from lethe.errors import LetheError
from lethe.stores.sql import cascade as cascading
from lethe.stores.sql.store import SQLStore
from tests.support.apps import NOW, engine_for

#: Tables no purge of customers can reach: a chain of links among themselves, and to the
#: table customers references (a parent is never reached by deleting its children).
UNRELATED = 200

SCHEMA = """
CREATE TABLE countries (id INTEGER PRIMARY KEY, name VARCHAR(40));
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    due_at {ts} NOT NULL,
    country_id INTEGER REFERENCES countries(id)
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE
);
CREATE INDEX ix_orders_customer ON orders (customer_id);
CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE
);
CREATE INDEX ix_lines_order ON order_lines (order_id);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id)
);
CREATE INDEX ix_notes_order ON notes (order_id);
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.customers]
table = "customers"
key = "id"
due_column = "due_at"
{extra}

[policies.expire]
dataset = "customers"
[[policies.expire.actions]]
type = "purge"
"""


def _unrelated(n: int) -> str:
    if n == 0:
        return (
            "CREATE TABLE t_000 (id INTEGER PRIMARY KEY, "
            "country_id INTEGER REFERENCES countries(id))"
        )
    return (
        f"CREATE TABLE t_{n:03d} (id INTEGER PRIMARY KEY, "
        f"t_{n - 1:03d}_id INTEGER REFERENCES t_{n - 1:03d}(id))"
    )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(
        request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    )


def _seed(url: str) -> None:
    engine = engine_for(url)
    ts = {"postgresql": "TIMESTAMPTZ", "mysql": "DATETIME"}.get(engine.dialect.name, "TEXT")
    statements = [s for s in SCHEMA.format(ts=ts).split(";") if s.strip()]
    statements += [_unrelated(n) for n in range(UNRELATED)]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.execute(text("INSERT INTO countries VALUES (1, 'x')"))
        conn.execute(
            text("INSERT INTO customers VALUES (1, :old, 1), (2, :new, 1)"),
            {"old": "2000-01-01 00:00:00", "new": "2999-01-01 00:00:00"},
        )
        conn.execute(text("INSERT INTO orders VALUES (10, 1), (20, 2)"))
        conn.execute(text("INSERT INTO order_lines VALUES (100, 10), (200, 20)"))


def _policy(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "lethe.toml"
    path.write_text(POLICY.format(url=url, extra=extra))
    return path


def test_only_the_tables_a_purge_reaches_are_reflected(url: str, tmp_path: Path) -> None:
    _seed(url)
    with Lethe.from_file(_policy(tmp_path, url), env={}) as lethe:
        planned = lethe.plan(as_of=NOW)
        store = lethe.runtime.store("app")
        assert isinstance(store, SQLStore)
        reflected = {t.name for t in store.reflected((), None).tables.values()}
        handle = lethe.runtime.target("expire").handle
    assert reflected == {"customers", "orders", "order_lines", "notes"}
    assert [list(p.keys) for p in planned.phases] == [[1]]
    assert planned.phases[0].cascade == {"orders": 1, "order_lines": 1}
    # The graph is the one the whole schema gives.
    whole = MetaData()
    engine = engine_for(url)
    whole.reflect(bind=engine)
    assert len(whole.tables) == UNRELATED + 5
    full = cascading.build(
        whole, whole.tables["customers"], ("id",), ondelete=store._ondelete(whole)
    )
    assert sorted((e.name, e.parent.name, e.treatment) for e in handle.cascade.edges) == sorted(
        (e.name, e.parent.name, e.treatment) for e in full.edges
    )
    assert handle.cascade.tables == full.tables == ["order_lines", "orders"]


def test_a_table_the_policy_names_is_reflected_with_the_reach(url: str, tmp_path: Path) -> None:
    """An override of a foreign key the purge never meets is still a foreign key (as with
    the whole schema reflected); one that names none is still refused."""
    _seed(url)
    extra = 'on_delete = { "t_005.t_004_id" = "cascade", "notes.order_id" = "cascade" }'
    with Lethe.from_file(_policy(tmp_path, url, extra), env={}) as lethe:
        planned = lethe.plan(as_of=NOW)
        store = lethe.runtime.store("app")
        assert isinstance(store, SQLStore)
        reflected = {t.name for t in store.reflected((), None).tables.values()}
    assert reflected == {"customers", "orders", "order_lines", "notes", "t_005"}
    assert planned.phases[0].cascade == {"orders": 1, "order_lines": 1}
    wrong = 'on_delete = { "t_005.id" = "cascade" }'
    with (
        Lethe.from_file(_policy(tmp_path, url, wrong), env={}) as lethe,
        pytest.raises(LetheError, match=r"no foreign key .*its foreign keys: t_005\.t_004_id"),
    ):
        lethe.plan(as_of=NOW)
