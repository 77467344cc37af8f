"""The warning promises, for random due dates and random run calendars (hypothesis), against a
real database and a real webhook endpoint that is sometimes down:

* no (item, milestone) is ever delivered twice;
* every item deleted had its shortest (last) warning delivered at least that long before;
* each notice sent is the most urgent one reached at that run — never a stale one;
* an item whose warning is old enough is deleted by the next run at or after its due date.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import as_utc
from tests.support.mail import Hook, webhook_server

START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
LEADS = {"30d": timedelta(days=30), "7d": timedelta(days=7), "1d": timedelta(days=1)}
SHORTEST = "1d"

metadata = MetaData()
users = Table(
    "users", metadata, Column("id", Integer, primary_key=True), Column("email", String(100))
)
surveys = Table(
    "surveys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", ForeignKey("users.id"), nullable=False),
    Column("deletion_date", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
)

POLICY = """
[state]
url = "{state}"
runs_dir = ""
[limits.breaker]
enabled = false
[stores.app]
url = "{url}"
[datasets.surveys]
table = "surveys"
key = "id"
due_column = "deletion_date"
cascade = "none"
[policies.gov]
dataset = "surveys"
[[policies.gov.actions]]
type = "warn"
before = ["30d", "7d", "1d"]
recipient = {{ column = "owner_id", table = "users", key = "id", email = "email" }}
sender = {{ type = "webhook", url = "{hook}" }}
[[policies.gov.actions]]
type = "soft_delete"
[[policies.gov.actions]]
type = "purge"
grace = "2d"
"""


@dataclass(frozen=True)
class Scenario:
    due_hours: list[int]  # per survey, hours from START (negative: overdue at the first run)
    owners: list[int]
    steps: list[tuple[int, bool]]  # (hours since the previous run, endpoint up)
    shortened: tuple[int, int, int] | None  # (at run, survey, new due hours from that run)


scenarios = st.integers(1, 6).flatmap(
    lambda n: st.builds(
        Scenario,
        due_hours=st.lists(st.integers(-5 * 24, 45 * 24), min_size=n, max_size=n),
        owners=st.lists(st.integers(1, 3), min_size=n, max_size=n),
        steps=st.lists(
            st.tuples(st.sampled_from([1, 12, 23, 24, 25, 72, 24 * 8, 24 * 20]), st.booleans()),
            min_size=1,
            max_size=9,
        ),
        shortened=st.one_of(
            st.none(), st.tuples(st.integers(0, 8), st.integers(1, n), st.integers(-48, 48))
        ),
    )
)


def _load(url: str, s: Scenario) -> None:
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(users), [{"id": i, "email": f"u{i}@example.org"} for i in (1, 2, 3)]
            )
            conn.execute(
                insert(surveys),
                [
                    {"id": i, "owner_id": owner, "deletion_date": START + timedelta(hours=due)}
                    for i, (due, owner) in enumerate(zip(s.due_hours, s.owners, strict=True), 1)
                ],
            )
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[int, tuple[datetime | None, datetime | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(surveys)).all()
    finally:
        engine.dispose()
    return {r.id: (as_utc(r.deletion_date), as_utc(r.deleted_at)) for r in rows}


def _shorten(url: str, survey: int, due: datetime) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(update(surveys).where(surveys.c.id == survey).values(deletion_date=due))
    finally:
        engine.dispose()


def _check(url: str, state: str, hook: Hook, s: Scenario) -> None:
    _load(url, s)
    sent: list[tuple[str, str, datetime]] = []  # (key, milestone, run instant)
    deleted: dict[int, datetime] = {}  # first run at which a survey was soft-deleted or gone
    dues: dict[int, list[tuple[datetime, datetime]]] = {}  # survey -> [(from run, due)]
    successes: list[datetime] = []
    with tempfile.TemporaryDirectory() as directory:
        policy = POLICY.format(url=url, state=state, hook=hook.url)
        clock = ManualClock(START)
        with Lethe.from_toml(policy, base_dir=Path(directory), env={}, clock=clock) as lethe:
            now = START
            for index, (hours, up) in enumerate(s.steps):
                now += timedelta(hours=hours if index else 0)
                if s.shortened and s.shortened[0] == index:
                    _shorten(url, s.shortened[1], now + timedelta(hours=s.shortened[2]))
                before = _snapshot(url)
                for sid, (due, _) in before.items():
                    dues.setdefault(sid, []).append((now, due))  # type: ignore[arg-type]
                hook.status = 200 if up else 503
                received = len(hook.received())
                clock.set(now)
                result = lethe.run()
                if up and not result.errors:
                    successes.append(now)
                for body in hook.received()[received:]:
                    sent.extend((item["key"], item["milestone"], now) for item in body["items"])
                after = _snapshot(url)
                for sid in before:
                    if sid not in deleted and (sid not in after or after[sid][1] is not None):
                        deleted[sid] = now
            delivered = _delivered(lethe)
            assert lethe.verify_audit().ok
    _assert_promises(sent, deleted, dues, delivered, successes)


def _delivered(lethe: Lethe) -> dict[tuple[str, str], datetime]:
    from lethe.state.deliveries import DeliveryLedger

    ledger = DeliveryLedger(lethe.runtime.state)
    rows = ledger.lookup("gov", [str(i) for i in range(1, 7)])
    return {
        (key, name): row.delivered_at
        for key, by_name in rows.items()
        for name, row in by_name.items()
        if row.delivered and row.delivered_at is not None
    }


def _due_at(dues: dict[int, list[tuple[datetime, datetime]]], sid: int, when: datetime) -> datetime:
    return [due for start, due in dues[sid] if start <= when][-1]


def _assert_promises(
    sent: list[tuple[str, str, datetime]],
    deleted: dict[int, datetime],
    dues: dict[int, list[tuple[datetime, datetime]]],
    delivered: dict[tuple[str, str], datetime],
    successes: list[datetime],
) -> None:
    counts = Counter((key, milestone) for key, milestone, _ in sent)
    assert all(n == 1 for n in counts.values()), f"delivered twice: {counts}"
    assert set(counts) == set(delivered), "the ledger and the endpoint disagree"
    for key, milestone, when in sent:
        due = _due_at(dues, int(key), when)
        assert due - LEADS[milestone] <= when, f"{key}: {milestone} sent before it was reached"
        shorter = [m for m, lead in LEADS.items() if lead < LEADS[milestone]]
        stale = [m for m in shorter if due - LEADS[m] <= when]
        assert not stale, f"{key}: sent {milestone} when {stale} was already reached"
    for sid, when in deleted.items():
        at = delivered.get((str(sid), SHORTEST))
        assert at is not None, f"survey {sid} deleted without its {SHORTEST} warning"
        assert at + LEADS[SHORTEST] <= when, f"survey {sid} deleted too soon after its warning"
        assert _due_at(dues, sid, when) <= when, f"survey {sid} deleted before it was due"
    for (key, milestone), at in delivered.items():
        sid = int(key)
        if milestone != SHORTEST:
            continue
        ready = max(at + LEADS[SHORTEST], _due_at(dues, sid, successes[-1] if successes else at))
        later = [t for t in successes if t >= ready]
        if later:
            assert sid in deleted and deleted[sid] <= later[0], f"survey {sid} kept though due"


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios)
def test_warning_promises_on_sqlite(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory, webhook_server() as hook:
        where = Path(directory)
        _check(f"sqlite:///{where / 'app.db'}", f"sqlite:///{where / 'state.db'}", hook, scenario)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios)
def test_warning_promises_on_postgresql(pg_url: str, scenario: Scenario) -> None:
    from sqlalchemy import text

    from lethe.state.schema import metadata as state_tables

    engine = create_engine(pg_url)
    try:  # a fresh state database for each example: every lethe table, whatever its revision
        state_tables.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS lethe_alembic_version"))
    finally:
        engine.dispose()
    with webhook_server() as hook:
        _check(pg_url, pg_url, hook, scenario)
