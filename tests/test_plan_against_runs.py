"""``lethe plan --against OLD``, its JSON output compared key for key with two real runs (one
under each file, on the same starting data) at the plan instant and days later, on SQLite and
PostgreSQL: every kind of change — an item that becomes due, one no longer due (a new filter),
one that changes phase (redacted under the old file, purged under the new) — and a held one
in none."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, insert, select

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for
from tests.support.cli import run_cli

DAYS = 3

_COMMON = """
[stores.app]
url = "{url}"
[state]
url = "sqlite:///{state}"
runs_dir = ""
[limits.breaker]
enabled = false
[datasets.items]
table = "items"
key = "id"
age_column = "created_at"
"""
OLD = (
    _COMMON
    + """retain = "30d"
[policies.cleanup]
dataset = "items"
[[policies.cleanup.actions]]
type = "redact"
columns = ["content"]
"""
)
NEW = (
    _COMMON
    + """retain = "20d"
where = [{{ column = "kind", not_equals = "contract" }}]
[policies.cleanup]
dataset = "items"
[[policies.cleanup.actions]]
type = "purge"
"""
)

# id: (age in days at NOW, kind, content). Old file: redact content after 30 days; new file:
# purge after 20 days, contracts excluded. Note 8 is held.
ROWS: dict[int, tuple[int, str, str | None]] = {
    1: (5, "note", "x"),  # due under neither, even 3 days on
    2: (18, "note", "x"),  # becomes due under the new file on day 3 (21 days)
    3: (25, "note", "x"),  # becomes due: 20 < 25 < 30
    4: (28, "note", "x"),  # becomes due now; changes phase on day 3 (31: redacted before)
    5: (35, "note", "x"),  # changes phase: redacted under the old, purged under the new
    6: (40, "note", None),  # becomes due: nothing left to redact, but purged under the new
    7: (35, "contract", "x"),  # no longer due: the new filter excludes contracts
    8: (50, "note", "x"),  # held: in no phase under either file
    9: (45, "contract", None),  # neither: redacted already, a contract
    10: (29, "contract", "x"),  # no longer due on day 3 (32 days under the old file)
}
HELD = "8"

_table = MetaData()
ITEMS = Table(
    "items",
    _table,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True)),
    Column("kind", String(16)),
    Column("content", String(16)),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url"))


def _seed(url: str) -> None:
    """The rows of :data:`ROWS`, afresh (a real run changed them)."""
    engine = engine_for(url)
    _table.create_all(engine)
    with engine.begin() as conn:
        conn.execute(delete(ITEMS))
        conn.execute(
            insert(ITEMS),
            [
                {"id": i, "created_at": NOW - timedelta(days=age), "kind": kind, "content": c}
                for i, (age, kind, c) in ROWS.items()
            ],
        )
    engine.dispose()


def _rows(url: str) -> dict[str, str | None]:
    engine = engine_for(url)
    with engine.connect() as conn:
        found = {str(i): c for i, c in conn.execute(select(ITEMS.c.id, ITEMS.c.content))}
    engine.dispose()
    return found


def _run(url: str, text: str, state: Path, at: datetime) -> dict[str, str]:
    """A real run of ``text`` at ``at`` on fresh rows (its own state, the same hold): what it
    did to each item it touched, ``deleted`` or ``redacted``."""
    _seed(url)
    policy = text.format(url=url, state=state)
    with Lethe.from_toml(policy, clock=ManualClock(at)) as lethe:
        lethe.holds.add("items", HELD, reason="litigation", placed_by="dpo")
        assert lethe.run(as_of=at).errors == ()
    after = _rows(url)
    done = {}
    for key, (_, _, content) in ((str(i), r) for i, r in ROWS.items()):
        if key not in after:
            done[key] = "deleted"
        elif after[key] != content:
            done[key] = "redacted"
    return done


def _expected(old: dict[str, str], new: dict[str, str]) -> dict[str, set[str]]:
    """The changes two runs' outcomes show: touched by one file only, or differently."""
    return {
        "becomes_due": new.keys() - old.keys(),
        "no_longer_due": old.keys() - new.keys(),
        "changes_phase": {k for k in old.keys() & new.keys() if old[k] != new[k]},
    }


def test_plan_against_is_what_two_real_runs_then_do_key_for_key(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(url)
    state = tmp_path / "preview-state.db"
    (tmp_path / "old.toml").write_text(OLD.format(url=url, state=state))
    (tmp_path / "lethe.toml").write_text(NEW.format(url=url, state=state))
    with Lethe.from_file(tmp_path / "lethe.toml", env={}) as lethe:
        lethe.holds.add("items", HELD, reason="litigation", placed_by="dpo")
    code, out, err = run_cli(
        capsys,
        "-c",
        str(tmp_path / "lethe.toml"),
        "plan",
        "--against",
        str(tmp_path / "old.toml"),
        "--days",
        str(DAYS),
        "--samples",
        "100",
        "--as-of",
        NOW.isoformat(),
        "--json",
    )
    assert code == 0, err
    [items] = json.loads(out)["datasets"]
    assert (items["old_policies"], items["new_policies"]) == (["cleanup"], ["cleanup"])
    seen: dict[int, dict[str, Any]] = {}
    for day in (0, DAYS):
        at = NOW + timedelta(days=day)
        moment = items["moments"][day]
        assert datetime.fromisoformat(moment["as_of"]) == at
        expected = _expected(
            _run(url, OLD, tmp_path / f"old-{day}.db", at),
            _run(url, NEW, tmp_path / f"new-{day}.db", at),
        )
        shown = {kind: {s["key"] for s in samples} for kind, samples in moment["samples"].items()}
        assert shown == expected, f"day {day}"
        assert moment["counts"] == {kind: len(keys) for kind, keys in expected.items()}
        seen[day] = moment
    # The runs above are what the preview had to match; the fixture's comments say why each
    # item is where it is, and every kind is there (the comparison is not vacuous).
    assert {k: {s["key"] for s in v} for k, v in seen[0]["samples"].items()} == {
        "becomes_due": {"3", "4", "6"},
        "no_longer_due": {"7"},
        "changes_phase": {"5"},
    }
    assert {k: {s["key"] for s in v} for k, v in seen[DAYS]["samples"].items()} == {
        "becomes_due": {"2", "3", "6"},
        "no_longer_due": {"7", "10"},
        "changes_phase": {"4", "5"},
    }
    [changed] = [s for s in seen[0]["samples"]["changes_phase"] if s["key"] == "5"]
    assert (changed["old"], changed["new"]) == ("cleanup[0] redact", "cleanup[0] purge")
