"""Each foreign key a purge meets is treated by its declared ``ON DELETE`` rule (or the policy's
override): CASCADE deletes, SET NULL / SET DEFAULT update, RESTRICT / NO ACTION block. On
SQLite (inline rules, which SQLAlchemy's reflection does not report), PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lethe import Lethe
from lethe.errors import LiveCheckError
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for
from tests.support.cli import run_cli

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, due_at {ts} NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE
);
CREATE INDEX ix_orders ON orders (customer_id);
CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE
);
CREATE INDEX ix_order_lines ON order_lines (order_id);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id) ON DELETE RESTRICT
);
CREATE INDEX ix_invoices ON invoices (order_id);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id) ON DELETE SET NULL
);
CREATE INDEX ix_notes ON notes (customer_id);
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER DEFAULT 0 REFERENCES customers(id) ON DELETE SET DEFAULT
);
CREATE INDEX ix_tickets ON tickets (customer_id);
CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    referrer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    referee_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE
);
CREATE INDEX ix_referrals_a ON referrals (referrer_id);
CREATE INDEX ix_referrals_b ON referrals (referee_id);
CREATE TABLE audits (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id)
);
CREATE INDEX ix_audits ON audits (customer_id);
"""

# Customer 0 is nobody (the tickets' default); 1 and 2 go; 3 is blocked by an invoice under
# RESTRICT two levels down, 4 by an audit row under NO ACTION; 5 is not due.
DATA = """
INSERT INTO customers VALUES (0, '2999-01-01 00:00:00'), (1, '2000-01-01 00:00:00'),
    (2, '2000-01-02 00:00:00'), (3, '2000-01-03 00:00:00'), (4, '2000-01-04 00:00:00'),
    (5, '2999-01-01 00:00:00');
INSERT INTO orders VALUES (10, 1), (30, 3), (50, 5);
INSERT INTO order_lines VALUES (100, 10), (101, 10), (300, 30);
INSERT INTO invoices VALUES (300, 30), (500, 50);
INSERT INTO notes VALUES (1000, 1), (1001, 5);
INSERT INTO tickets VALUES (7, 2), (8, 5);
INSERT INTO referrals VALUES (5, 1, 2), (6, 5, 1);
INSERT INTO audits VALUES (400, 4);
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.customers]
table = "customers"
key = "id"
due_column = "due_at"
{extra}

[policies.erase]
dataset = "customers"
actions = [{{ type = "purge" }}]
"""


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """The shop schema, with every rule, seeded."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.db'}"
    else:
        url = str(
            request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
        )
    engine = engine_for(url)
    ts = "TIMESTAMP" if request.param != "mariadb" else "DATETIME"
    with engine.begin() as conn:
        if request.param == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        for statement in (SCHEMA.format(ts=ts) + DATA).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    yield url, engine


def _mariadb(url: str) -> bool:
    return url.startswith("mysql")


def _policy(url: str, extra: str = "", on_delete: dict[str, str] | None = None) -> str:
    overrides = dict(on_delete or {})
    if _mariadb(url):
        # InnoDB refuses SET DEFAULT (the key is kept as RESTRICT): lethe applies it itself.
        overrides.setdefault("tickets.customer_id", "set_default")
    if overrides:
        pairs = ", ".join(f'"{edge}" = "{how}"' for edge, how in overrides.items())
        extra += f"\non_delete = {{ {pairs} }}"
    return POLICY.format(url=url, extra=extra)


def _lethe(
    url: str, tmp_path: Path, extra: str = "", on_delete: dict[str, str] | None = None
) -> Lethe:
    policy = _policy(url, extra, on_delete)
    return Lethe.from_toml(policy, base_dir=tmp_path, clock=ManualClock(NOW))


def _ids(engine: Engine, table: str, where: str = "") -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT id FROM {table} {where}")).scalars())


def _column(engine: Engine, table: str, column: str) -> dict[int, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT id, {column} FROM {table}")).all())  # type: ignore[arg-type]


def test_each_rule_gets_its_treatment_and_counts_are_of_distinct_rows(
    shop: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = shop
    with _lethe(url, tmp_path) as lethe:
        plan = lethe.plan()
        result = lethe.run()
        events = list(lethe.runtime.ledger.iter_events())
    (planned,) = plan.phases
    (purge,) = result.phases
    assert [str(k) for k in planned.keys] == ["1", "2"]
    assert planned.blocked == {
        "3": "blocked by invoices.order_id = 30 (invoices key 300)",
        "4": "blocked by audits.customer_id = 4 (audits key 400)",
    }
    # A referral between 1 and 2 is one row, counted once; the one from 5 to 1 goes with 1.
    cascade = {"orders": 1, "order_lines": 2, "referrals": 2}
    updated = {"notes": 1, "tickets": 1}
    assert dict(planned.cascade) == cascade and dict(planned.updated) == updated
    assert (purge.acted, purge.blocked) == (2, 2)
    assert dict(purge.cascade) == cascade and dict(purge.updated) == updated
    assert _ids(engine, "customers") == {0, 3, 4, 5}
    assert _ids(engine, "orders") == {30, 50}
    assert _ids(engine, "order_lines") == {300}
    assert _ids(engine, "invoices") == {300, 500}
    assert _ids(engine, "referrals") == set()
    assert _column(engine, "notes", "customer_id") == {1000: None, 1001: 5}
    assert _column(engine, "tickets", "customer_id") == {7: 0, 8: 5}
    skipped = {
        e["item_key"]: e["details"]["reason"] for e in events if e["event"] == "skipped_blocked"
    }
    assert skipped == planned.blocked
    deleted = {e["item_key"]: e["details"] for e in events if e["event"] == "hard_deleted"}
    assert deleted["1"]["updated"] == {"notes": ["1000"]}
    assert deleted["2"]["updated"] == {"tickets": ["7"]}
    assert sum(d["cascade"].get("referrals", 0) for d in deleted.values()) == 2


def test_a_blocked_item_is_tried_again_and_goes_once_its_blocker_is_gone(
    shop: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = shop
    with _lethe(url, tmp_path) as lethe:
        assert lethe.run().phases[0].blocked == 2
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audits"))
        again = lethe.run().phases[0]
    assert (again.acted, again.blocked) == (1, 1)
    assert _ids(engine, "customers") == {0, 3, 5}


def test_overrides_and_no_action_opt_edges_in(shop: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = shop
    with _lethe(url, tmp_path, 'no_action = "cascade"') as lethe:
        only_no_action = lethe.plan().phases[0]
    # RESTRICT still blocks; MariaDB keeps no difference between RESTRICT and NO ACTION.
    assert set(only_no_action.blocked) == (set() if _mariadb(url) else {"3"})
    cascade_invoices = {"invoices.order_id": "cascade"}
    with _lethe(url, tmp_path, 'no_action = "cascade"', cascade_invoices) as lethe:
        result = lethe.run().phases[0]
    assert (result.acted, result.blocked) == (4, 0)
    assert dict(result.cascade) == {
        "orders": 2,
        "order_lines": 3,
        "referrals": 2,
        "invoices": 1,
        "audits": 1,
    }
    assert _ids(engine, "invoices") == {500}


def test_an_override_can_block_a_cascade_edge(shop: tuple[str, Engine], tmp_path: Path) -> None:
    url, _engine = shop
    with _lethe(url, tmp_path, on_delete={"orders.customer_id": "block"}) as lethe:
        phase = lethe.plan().phases[0]
    assert phase.blocked["1"] == "blocked by orders.customer_id = 1 (orders key 10)"
    assert [str(k) for k in phase.keys] == ["2"]


@pytest.mark.parametrize(
    ("on_delete", "message"),
    [
        (
            {"invoices.customer_id": "cascade"},
            "on_delete names 'invoices.customer_id', which is no foreign key "
            "(its foreign keys: invoices.order_id)",
        ),
        (
            {"referrals.referrer_id,referee_id": "cascade"},
            "which is no foreign key (wrong number of columns: 2; its foreign keys: "
            "referrals.referee_id, referrals.referrer_id)",
        ),
        (
            {"nowhere.id": "cascade"},
            "(nowhere has no foreign key)",
        ),
    ],
)
def test_an_override_naming_no_edge_is_refused_before_anything_changes(
    shop: tuple[str, Engine], tmp_path: Path, on_delete: dict[str, str], message: str
) -> None:
    url, engine = shop
    with (
        _lethe(url, tmp_path, on_delete=on_delete) as lethe,
        pytest.raises(LiveCheckError) as raised,
    ):
        lethe.run()
    assert message in str(raised.value)
    assert "datasets.customers.on_delete" in str(raised.value)
    assert len(_ids(engine, "customers")) == 6


def test_check_prints_the_edge_table_and_the_line_that_cascades_a_blocking_edge(
    shop: tuple[str, Engine],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _engine = shop
    (tmp_path / "lethe.toml").write_text(_policy(url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(capsys, "check")
    assert code == 0, out
    restrict = "NO ACTION" if _mariadb(url) else "RESTRICT"
    set_default = (
        "NO ACTION): set_default (on_delete" if _mariadb(url) else "SET DEFAULT): set_default"
    )
    for line in (
        "orders.customer_id → customers (CASCADE): cascade",
        "notes.customer_id → customers (SET NULL): set_null",
        f"tickets.customer_id → customers ({set_default}",
        "referrals.referrer_id → customers (CASCADE): cascade",
        "referrals.referee_id → customers (CASCADE): cascade",
        "audits.customer_id → customers (NO ACTION): block",
        "order_lines.order_id → orders (CASCADE): cascade",
        f"invoices.order_id → orders ({restrict}): block",
    ):
        assert line in out
    assert 'on_delete = { "invoices.order_id" = "cascade" }' in out
    assert 'on_delete = { "audits.customer_id" = "cascade" }' in out
    code, out, _ = run_cli(capsys, "explain", "customers", "3")
    assert "blocked by invoices.order_id = 30 (invoices key 300)" in out
