"""Each ``ON DELETE`` rule, one example at a time, on SQLite and PostgreSQL (issue 13).

The schema is :mod:`tests.support.rules_schema`: account 1 is due, account 2 is not, and each
test adds the few rows that show one rule. Before issue 13, lethe followed every foreign key
that was not ``SET NULL``/``SET DEFAULT`` — a ``RESTRICT`` child was emptied and its parent
deleted — and refused self-references and cycles outright.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lethe import Lethe, RunResult
from lethe.cli.app import main
from lethe.errors import LetheError
from lethe.model.results import RunStatus
from lethe.testing import ManualClock
from tests.support import rules_schema as rs

DUE, LATER = rs.AS_OF - timedelta(days=1), rs.AS_OF + timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The application database, on SQLite then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    else:
        yield str(request.getfixturevalue("pg_url"))
    rs.dispose()


@dataclass
class Ran:
    """One run: its result, its audit events and the tables before and after."""

    result: RunResult
    events: list[dict[str, Any]]
    before: rs.Snapshot
    after: rs.Snapshot

    def keys(self, table: str) -> set[Any]:
        """Keys (first column) left in ``table``."""
        return {k[0] if len(k) == 1 else k for k in self.after[table]}

    def row(self, table: str, key: Any) -> dict[str, Any]:
        return dict(self.after[table][(key,)])

    def event_keys(self, name: str) -> set[str]:
        return {e["item_key"] for e in self.events if e["event"] == name}

    @property
    def deleted(self) -> dict[str, int]:
        """Rows lethe reports deleted per table (the dataset's own rows included)."""
        out: dict[str, int] = {}
        for phase in self.result.phases:
            for table, rows in [(phase.table, phase.acted), *phase.cascade.items()]:
                if rows:
                    out[table] = out.get(table, 0) + rows
        return out

    @property
    def updated(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for phase in self.result.phases:
            for table, rows in getattr(phase, "updated", {}).items():
                if rows:
                    out[table] = out.get(table, 0) + rows
        return out

    @property
    def gone(self) -> dict[str, int]:
        """Rows that really left each table (a diff, not lethe's word)."""
        return {
            t: len(rows.keys() - self.after[t].keys())
            for t, rows in self.before.items()
            if rows.keys() - self.after[t].keys()
        }

    @property
    def changed(self) -> dict[str, int]:
        """Rows still there whose values changed, per table."""
        out = {
            t: sum(1 for k, r in rows.items() if k in self.after[t] and self.after[t][k] != r)
            for t, rows in self.before.items()
        }
        return {t: n for t, n in out.items() if n}


def _accounts(*due: Any) -> list[dict[str, Any]]:
    return [{"id": i, "due_at": d, "referred_by": None} for i, d in enumerate(due, start=1)]


def run(
    url: str, rows: Mapping[str, Any], tmp_path: Path, *, extra: str = "", batch: int = 1000
) -> Ran:
    """Load ``rows`` (accounts 1 due and 2 not, unless given) and run the purge once."""
    data = {"accounts": _accounts(DUE, LATER), **rows}
    rs.create(url)
    rs.load(url, data)
    before = rs.snapshot(url)
    policy = rs.policy(url, batch=batch, dataset_extra=extra)
    with Lethe.from_toml(policy, base_dir=tmp_path, env={}, clock=ManualClock(rs.AS_OF)) as lethe:
        result = lethe.run(as_of=rs.AS_OF)
        events = list(lethe.runtime.ledger.iter_events(run_id=result.run_id))
    return Ran(result, events, before, rs.snapshot(url))


def test_cascade_children_go_first_and_are_counted_once(url: str, tmp_path: Path) -> None:
    ran = run(
        url,
        {
            "posts": [{"id": 1, "account_id": 1}, {"id": 2, "account_id": 2}],
            # a tree three levels deep under account 1; folder 4 (account 2's) sits in it
            "folders": [
                {"id": 1, "account_id": 1, "parent_id": None},
                {"id": 2, "account_id": 1, "parent_id": 1},
                {"id": 3, "account_id": 1, "parent_id": 2},
                {"id": 4, "account_id": 2, "parent_id": 3},
                {"id": 5, "account_id": 2, "parent_id": None},
            ],
            "projects": [{"account_id": 1, "number": 1}, {"account_id": 2, "number": 1}],
            "tasks": [
                {"id": 1, "account_id": 1, "number": 1},
                {"id": 2, "account_id": 2, "number": 1},
            ],
        },
        tmp_path,
    )
    assert ran.keys("accounts") == {0, 2}
    assert ran.keys("posts") == {2}
    assert ran.keys("folders") == {5}  # folder 4 went with its parent, as ON DELETE CASCADE says
    assert ran.keys("projects") == {(2, 1)} and ran.keys("tasks") == {2}
    assert (
        ran.deleted
        == ran.gone
        == {
            "accounts": 1,
            "posts": 1,
            "folders": 4,
            "projects": 1,
            "tasks": 1,
        }
    )


@pytest.mark.parametrize(
    ("table", "column"),
    [("invoices", "account_id"), ("orders", "account_id"), ("notes", "account_id")],
    ids=["restrict", "no-action", "deferrable-no-action"],
)
def test_a_protecting_foreign_key_blocks_its_parent(
    url: str, tmp_path: Path, table: str, column: str
) -> None:
    accounts = _accounts(DUE, LATER, DUE)
    ran = run(
        url,
        {
            "accounts": accounts,
            table: [{"id": 7, column: 1}],
            "posts": [{"id": 1, "account_id": 1}],
        },
        tmp_path,
    )
    assert ran.keys("accounts") == {0, 1, 2}  # account 3 went; 1 stays, with all it had
    assert ran.keys(table) == {7} and ran.keys("posts") == {1}
    assert ran.event_keys("skipped_blocked") == {"1"}
    (reason,) = [e["details"]["reason"] for e in ran.events if e["event"] == "skipped_blocked"]
    assert f"{table}.{column}" in reason
    assert ran.result.phases[0].blocked == 1 and ran.deleted == ran.gone == {"accounts": 1}


def test_a_composite_restrict_blocks_its_parent(url: str, tmp_path: Path) -> None:
    ran = run(
        url,
        {
            "projects": [{"account_id": 1, "number": 1}],
            "milestones": [{"id": 1, "account_id": 1, "number": 1}],
        },
        tmp_path,
    )
    assert ran.keys("accounts") == {0, 1, 2} and ran.keys("projects") == {(1, 1)}
    assert ran.event_keys("skipped_blocked") == {"1"}


def test_set_null_and_set_default_are_applied_and_counted(url: str, tmp_path: Path) -> None:
    accounts = _accounts(DUE, LATER)
    accounts[1]["referred_by"] = 1  # a self-reference on the dataset's own table, SET NULL
    ran = run(
        url,
        {
            "accounts": accounts,
            "sessions": [
                {"id": 1, "account_id": 1, "folder_id": None},
                {"id": 2, "account_id": 2, "folder_id": None},
            ],
            "tickets": [{"id": 1, "assignee_id": 1}, {"id": 2, "assignee_id": 2}],
        },
        tmp_path,
    )
    assert ran.keys("accounts") == {0, 2} and ran.row("accounts", 2)["referred_by"] is None
    assert (
        ran.row("sessions", 1)["account_id"] is None and ran.row("sessions", 2)["account_id"] == 2
    )
    assert ran.row("tickets", 1)["assignee_id"] == 0 and ran.row("tickets", 2)["assignee_id"] == 2
    assert ran.updated == ran.changed == {"accounts": 1, "sessions": 1, "tickets": 1}
    assert ran.deleted == ran.gone == {"accounts": 1}


def test_a_row_the_cascade_deletes_is_not_also_set_null(url: str, tmp_path: Path) -> None:
    # session 1 points at account 1 (SET NULL) and sits in account 1's folder (CASCADE): it goes
    ran = run(
        url,
        {
            "folders": [{"id": 1, "account_id": 1, "parent_id": None}],
            "sessions": [{"id": 1, "account_id": 1, "folder_id": 1}],
        },
        tmp_path,
    )
    assert ran.keys("sessions") == set()
    assert ran.deleted == ran.gone == {"accounts": 1, "folders": 1, "sessions": 1}
    assert ran.updated == ran.changed == {}


def test_a_two_role_child_is_one_row(url: str, tmp_path: Path) -> None:
    accounts = _accounts(DUE, DUE, LATER)
    referrals = [
        {"id": 1, "referrer_id": 1, "referred_id": 2},  # both roles point at deleted accounts
        {"id": 2, "referrer_id": 1, "referred_id": 1},
        {"id": 3, "referrer_id": 3, "referred_id": 2},
        {"id": 4, "referrer_id": 3, "referred_id": 3},
    ]
    ran = run(url, {"accounts": accounts, "referrals": referrals}, tmp_path)
    assert ran.keys("referrals") == {4}
    assert ran.deleted == ran.gone == {"accounts": 2, "referrals": 3}


def test_a_cycle_through_a_nullable_key(url: str, tmp_path: Path) -> None:
    # team 1 (account 1) is led by its own member 1; team 2 (account 2) by member 1 too
    ran = run(
        url,
        {
            "teams": [
                {"id": 1, "account_id": 1, "lead_member_id": 1},
                {"id": 2, "account_id": 2, "lead_member_id": 1},
            ],
            "members": [{"id": 1, "team_id": 1}, {"id": 2, "team_id": 2}],
        },
        tmp_path,
    )
    assert ran.keys("teams") == {2} and ran.keys("members") == {2}
    assert ran.row("teams", 2)["lead_member_id"] is None
    assert ran.deleted == ran.gone == {"accounts": 1, "teams": 1, "members": 1}
    assert ran.updated == ran.changed == {"teams": 1}


def test_an_override_cascades_one_protected_edge(url: str, tmp_path: Path) -> None:
    rows = {"orders": [{"id": 1, "account_id": 1}], "invoices": [{"id": 1, "account_id": 2}]}
    ran = run(url, rows, tmp_path, extra='on_delete = { "orders.account_id" = "cascade" }')
    assert ran.keys("accounts") == {0, 2} and ran.keys("orders") == set()
    assert ran.deleted == ran.gone == {"accounts": 1, "orders": 1}


def test_no_action_cascade_opts_in_no_action_edges_but_not_restrict(
    url: str, tmp_path: Path
) -> None:
    accounts = _accounts(DUE, DUE)
    rows = {
        "accounts": accounts,
        "orders": [{"id": 1, "account_id": 1}],
        "notes": [{"id": 1, "account_id": 1}],
        "invoices": [{"id": 1, "account_id": 2}],
    }
    ran = run(url, rows, tmp_path, extra='no_action = "cascade"')
    assert ran.keys("accounts") == {0, 2}
    assert ran.keys("orders") == ran.keys("notes") == set() and ran.keys("invoices") == {1}
    assert ran.event_keys("skipped_blocked") == {"2"}


def test_within_a_batch_items_do_not_unblock_each_other(url: str, tmp_path: Path) -> None:
    # order 1 blocks account 2 but is account 1's (through post 1): in one batch account 2 is
    # judged before account 1's deletes; in batches of one, account 2 goes after account 1
    rows = {
        "accounts": _accounts(DUE, DUE),
        "posts": [{"id": 1, "account_id": 1}],
        "orders": [{"id": 1, "account_id": 2, "post_id": 1}],
    }
    together = run(url, rows, tmp_path / "a", batch=1000)
    one_by_one = run(url, rows, tmp_path / "b", batch=1)
    assert one_by_one.keys("accounts") == {0}
    if url.startswith("sqlite"):
        assert together.keys("accounts") == {0, 2}  # the next run takes it
        assert together.event_keys("skipped_blocked") == {"2"}
    else:
        # PostgreSQL's final pass (after rows skipped as locked) is a later batch
        assert together.keys("accounts") == {0}


def test_a_refused_account_is_isolated_and_the_rest_go(url: str, tmp_path: Path) -> None:
    rows = {
        "accounts": _accounts(DUE, DUE, DUE, DUE),
        "ledger": [{"id": 1, "account_id": 3}],  # the trigger refuses to delete account 3
        "posts": [{"id": 1, "account_id": 3}, {"id": 2, "account_id": 4}],
    }
    ran = run(url, rows, tmp_path)
    assert ran.keys("accounts") == {0, 3} and ran.keys("posts") == {1}
    assert ran.event_keys("skipped_error") == {"3"}
    assert ran.result.status is RunStatus.DEGRADED
    assert ran.deleted == ran.gone == {"accounts": 3, "posts": 1}


@pytest.mark.parametrize(
    "override",
    [
        '{ "orders.nothing" = "cascade" }',
        '{ "posts.account_id,account_id" = "cascade" }',
        '{ "tasks.account_id" = "cascade" }',  # a composite key named by one column
    ],
)
def test_an_override_naming_no_edge_is_one_line_exit_2_and_nothing_touched(
    url: str,
    tmp_path: Path,
    override: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rs.create(url)
    rs.load(url, {"accounts": _accounts(DUE), "posts": [{"id": 1, "account_id": 1}]})
    before = rs.snapshot(url)
    (tmp_path / "lethe.toml").write_text(rs.policy(url, dataset_extra=f"on_delete = {override}"))
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    out, _ = capsys.readouterr()
    assert "on_delete" in out
    assert main(["run", "--as-of", rs.AS_OF.isoformat()]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "on_delete" in err, err
    assert rs.snapshot(url) == before
    with (
        pytest.raises(LetheError),
        Lethe.from_toml(
            rs.policy(url, dataset_extra=f"on_delete = {override}"), base_dir=tmp_path, env={}
        ) as lethe,
    ):
        lethe.plan(as_of=rs.AS_OF)


def test_a_plan_judges_each_batch_in_its_own_transaction(pg_url: str, tmp_path: Path) -> None:
    # One read-only transaction across every batch held a snapshot for the whole plan
    # (9 s at bench --scale 0.1), keeping vacuum back on a busy database.
    rows = {"accounts": _accounts(DUE, DUE, DUE), "posts": [{"id": 1, "account_id": 3}]}
    seen: dict[int, int] = {}  # per transaction on the app database, its reads of posts

    def counted(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.dialect.name == "postgresql" and "posts" in statement:
            transaction = id(conn.get_transaction())
            seen[transaction] = seen.get(transaction, 0) + 1

    try:
        with rs.schema_at(pg_url, rows):
            policy = rs.policy(pg_url, batch=1)
            clock = ManualClock(rs.AS_OF)
            with Lethe.from_toml(policy, base_dir=tmp_path, env={}, clock=clock) as lethe:
                event.listen(Engine, "before_cursor_execute", counted)
                try:
                    planned = lethe.plan(as_of=rs.AS_OF)
                finally:
                    event.remove(Engine, "before_cursor_execute", counted)
    finally:
        rs.dispose()
    assert [len(p.keys) for p in planned.phases] == [3]
    assert planned.phases[0].cascade.get("posts") == 1
    assert len(seen) >= 3, seen  # three batches of one: three transactions at least
