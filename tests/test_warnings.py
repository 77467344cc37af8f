"""Deletion warnings end to end on the Census schema, against a real SMTP server on loopback:
what arrives, digests, exactly once, catch-up, notify-before-delete, failures and recovery."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from lethe import RunStatus
from lethe.cli.app import main
from lethe.engine import planning
from lethe.testing import ManualClock
from tests.support.apps import NOW, example_policy, run_at, seeded
from tests.support.mail import Inbox, free_port, smtp_server
from tests.support.warnings import (
    add_surveys,
    body,
    census_with_warnings,
    deliveries,
    listed_items,
    mail_env,
    survey_ids,
)

DAY = timedelta(days=1)
# Owners: survey ids are owned by 1 + id % 2 (owner1@ for even ids, owner2@ for odd ones).
EXTRA = [(8, 1, 5, "Staff <b>survey</b>"), (9, 1, 25, "Exit poll"), (11, 2, 0.5, "Pulse")]


def _events(lethe, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in lethe.runtime.ledger.iter_events() if e["event"] == name]


def test_one_digest_per_owner_with_each_items_most_urgent_notice(
    app_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", app_url)
    add_surveys(engine, census, EXTRA)
    with census_with_warnings(app_url, tmp_path, inbox.port) as lethe:
        result = run_at(lethe, NOW)
        assert result.ok, result.errors
        warn = result.phases[0]
        assert warn.summary == (
            "Sent 5 deletion warnings in 2 messages: 30-day: 2, 7-day: 1, 1-day: 2",
        )
        assert warn.details["milestones"] == {"30d": 2, "7d": 1, "1d": 2}
        received = {m["To"]: m for m in inbox.received()}
        assert set(received) == {"owner1@example.org", "owner2@example.org"}
        first, second = received["owner1@example.org"], received["owner2@example.org"]
        assert listed_items(first) == {"6", "8", "9"} and listed_items(second) == {"1", "11"}
        assert first["From"] == "governance@census.example.org"
        assert (
            first["Subject"]
            == "Deletion notice: 3 surveys will be deleted, the first on 2024-10-31"
        )
        text_ = body(first)
        assert "8, name: Staff <b>survey</b>" in text_ and "(7-day notice)" in text_
        assert "https://census.example.org" in text_
        html = body(first, "html")
        assert "Staff &lt;b&gt;survey&lt;/b&gt;" in html  # autoescaped
        # Survey 1 is overdue: its 1-day notice announces deletion a day from now.
        assert "1, name: Survey 1\n    deleted on or after 2024-10-27 (1-day notice)" in body(
            second
        )

        warned = _events(lethe, "warned")
        assert sorted((e["item_key"], e["details"]["milestone"]) for e in warned) == [
            ("1", "1d"), ("11", "1d"), ("6", "30d"), ("8", "7d"), ("9", "30d"),
        ]  # fmt: skip
        owner1 = hashlib.sha256(b"owner1@example.org").hexdigest()
        assert {e["details"]["recipient_sha256"] for e in warned if e["item_key"] == "6"} == {
            owner1
        }
        stored = json.dumps(list(lethe.runtime.ledger.iter_events()), default=str)
        assert "owner1@example.org" not in stored and "Staff" not in stored
        assert "owner1@example.org" not in json.dumps(deliveries(lethe), default=str)

        again = run_at(lethe, NOW + timedelta(hours=6))
        assert again.phases[0].acted == 0 and len(inbox.received()) == 2
        assert lethe.verify_audit().ok


def test_deletion_waits_until_the_last_warning_is_a_day_old(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", sqlite_url)
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        plan = lethe.plan(as_of=NOW)
        assert dict(plan.phases[1].blocked) == {
            "1": "its 1-day deletion warning is not delivered yet"
        }
        first = run_at(lethe, NOW)
        assert (first.phases[1].acted, first.phases[1].blocked) == (0, 1)
        assert 1 in survey_ids(engine, census)
        (blocked,) = _events(lethe, "skipped_blocked")
        assert "1-day deletion warning" in blocked["details"]["reason"]

        early = run_at(lethe, NOW + DAY - timedelta(minutes=1))
        assert early.phases[1].blocked == 1 and 1 in survey_ids(engine, census)
        assert (
            "it may go from 2024-10-27 02:00 UTC"
            in _events(lethe, "skipped_blocked")[-1]["details"]["reason"]
        )
        on_time = run_at(lethe, NOW + DAY)
        assert on_time.phases[1].acted == 1 and 1 not in survey_ids(engine, census)
        assert [m["To"] for m in inbox.received()] == ["owner1@example.org", "owner2@example.org"]


def test_a_daily_calendar_sends_30_7_and_1_day_notices_and_deletes_on_the_due_date(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", sqlite_url)
    add_surveys(engine, census, [(20, 1, 40, "Annual review")])
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        deleted_on = None
        for day in range(0, 42):
            run_at(lethe, NOW + day * DAY)
            if deleted_on is None and 20 not in survey_ids(engine, census):
                deleted_on = day
        notices = [
            (e["details"]["milestone"], e["ts"]) for e in _events(lethe, "warned")
            if e["item_key"] == "20"
        ]  # fmt: skip
        assert [milestone for milestone, _ in notices] == ["30d", "7d", "1d"]
        assert deleted_on == 40  # on its deletion date, not a day later
        rows = [r for r in deliveries(lethe) if r["item_key"] == "20"]
        assert [(r["milestone"], r["status"]) for r in rows] == [
            ("30d", "delivered"), ("7d", "delivered"), ("1d", "delivered"),
        ]  # fmt: skip


def test_after_missed_runs_only_the_most_urgent_notice_goes_and_deletion_is_pushed_back(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", sqlite_url)
    add_surveys(engine, census, [(20, 1, 40, "Annual review")])
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        run_at(lethe, NOW + 37 * DAY, ["data-governance"])  # 3 days left: no stale 30-day
        run_at(lethe, NOW + 40 * DAY)  # due now, but no 1-day notice yet: it goes first
        assert 20 in survey_ids(engine, census)
        run_at(lethe, NOW + 41 * DAY - timedelta(seconds=1))
        assert 20 in survey_ids(engine, census)
        run_at(lethe, NOW + 41 * DAY)
        assert 20 not in survey_ids(engine, census)
        sent = [(e["item_key"], e["details"]["milestone"]) for e in _events(lethe, "warned")]
        assert [m for key, m in sent if key == "20"] == ["7d", "1d"]
        last = [m for m in inbox.received() if "20" in listed_items(m)][-1]
        assert "deleted on or after 2024-12-06 (1-day notice)" in body(last)


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_concurrent_replicas_send_each_milestone_once(
    tmp_path: Path, inbox: Inbox, request: pytest.FixtureRequest, state: str
) -> None:
    import threading

    url = (
        str(request.getfixturevalue("pg_url"))
        if state == "postgresql"
        else (f"sqlite:///{tmp_path / 'app.db'}")
    )
    census, engine = seeded("census", url)
    add_surveys(engine, census, [(100 + i, 1 + i % 2, i % 29, f"S{i}") for i in range(40)])
    state_url = url if state == "postgresql" else f"sqlite:///{tmp_path / 'state.db'}"
    policy = f'[state]\nurl = "{state_url}"\nruns_dir = ""\n' + example_policy(
        "census", warnings=True
    )
    clock = ManualClock(NOW)  # one time for every replica of one state database
    replicas = [
        census_with_warnings(url, tmp_path / f"r{i}", inbox.port, policy, clock=clock)
        for i in range(3)
    ]
    # Migrating a fresh state database is not what this test races (see the closing note).
    replicas[0].runtime.state.migrate()
    barrier = threading.Barrier(len(replicas))
    failures: list[BaseException] = []

    def replica(index: int) -> None:
        try:
            for hour in range(3):
                barrier.wait()  # every replica has finished the hour before
                if index == 0:
                    clock.set(NOW + timedelta(hours=hour))
                barrier.wait()
                replicas[index].run(["data-governance"])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [str(f) for f in failures] == []
    sent = [(key, m["To"]) for m in inbox.received() for key in listed_items(m)]
    assert len(sent) == len(set(sent)) == 42  # 40 new surveys plus surveys 1 and 6
    rows = deliveries(replicas[0])
    assert len(rows) == 42 and {r["status"] for r in rows} == {"delivered"}
    warned = _events(replicas[0], "warned")
    assert len(warned) == 42
    assert replicas[0].verify_audit().ok
    for lethe in replicas:
        lethe.close()


def test_an_outage_degrades_the_run_blocks_deletion_and_the_next_run_delivers(
    sqlite_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", sqlite_url)
    port = free_port()
    with census_with_warnings(sqlite_url, tmp_path, port) as lethe:
        down = run_at(lethe, NOW)
        assert down.status is RunStatus.DEGRADED
        assert any("connection refused" in e for e in down.errors)
        assert any("not attempted" in e for e in down.errors)  # stopped after the first
        assert down.phases[0].summary[1].startswith("Not delivered: 2 deletion warnings")
        assert down.phases[1].blocked == 1 and 1 in survey_ids(engine, census)
        assert [r["status"] for r in deliveries(lethe)] == ["failed"]
        assert _events(lethe, "warned") == []
    # The server is back (on another port: lethe is pointed at it).
    with smtp_server() as inbox, census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        back = run_at(lethe, NOW + timedelta(hours=1))
        assert back.ok and back.phases[0].acted == 2 and len(inbox.received()) == 2
        explained = lethe.explain("surveys", "6", as_of=NOW)
        assert [(w.milestone, w.status, w.attempts) for w in explained.warnings] == [
            ("30d", "delivered", 2)
        ]


def test_a_refused_recipient_fails_alone_and_is_retried(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    _census, _engine = seeded("census", sqlite_url)
    inbox.refuse["owner2@example.org"] = "550 5.1.1 <owner2@example.org>: no such user"
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        result = run_at(lethe, NOW)
        assert result.status is RunStatus.DEGRADED
        (error,) = result.errors
        assert "550 5.1.1 <recipient>: no such user" in error and "surveys 1" in error
        assert "owner2@example.org" not in json.dumps(lethe.run_record(result.run_id))
        assert [m["To"] for m in inbox.received()] == ["owner1@example.org"]
        assert result.phases[1].blocked == 1  # survey 1: its owner was not told
        del inbox.refuse["owner2@example.org"]
        retry = run_at(lethe, NOW + timedelta(hours=1))
        assert retry.ok and [m["To"] for m in inbox.received()][-1] == "owner2@example.org"


def test_addresses_a_server_echoes_in_any_case_never_reach_records_or_logs(
    sqlite_url: str,
    tmp_path: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refusal quoting the recipient in another case, and other mailboxes, is redacted in
    the delivery ledger, the run record (state and file), ``--json`` and the log."""
    seeded("census", sqlite_url)
    inbox.refuse["owner2@example.org"] = (
        "550 5.1.1 <Owner2@Example.ORG>: no such user; OWNER2@EXAMPLE.ORG moved to "
        'bob.new@elsewhere.example, ask postmaster@relay.example.net or "j doe"@x.example'
    )
    (tmp_path / "lethe.toml").write_text(example_policy("census", warnings=True))
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE_URL": sqlite_url, **mail_env(inbox.port)}.items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--json", "--as-of", NOW.isoformat()]) == 1
    printed = capsys.readouterr()
    record = json.loads(printed.out)
    (error,) = record["errors"]
    assert "550 5.1.1 <recipient>: no such user; <recipient> moved to <address>" in error
    texts = {"stdout": printed.out, "log": printed.err}
    for path in (tmp_path / ".lethe" / "runs").glob("*.json"):
        texts[path.name] = path.read_text()
    with sqlite3.connect(tmp_path / ".lethe" / "state.db") as db:
        for table in ("lethe_deliveries", "lethe_runs", "lethe_events"):
            texts[table] = json.dumps(db.execute(f"SELECT * FROM {table}").fetchall())
    assert "no such user" in texts["lethe_deliveries"] and "no such user" in texts["log"]
    for where, content in texts.items():
        for address in ("owner2@", "bob.new@", "postmaster@", '"j doe"@'):
            assert address not in content.lower(), f"{address} in {where}"


def test_a_421_reply_leaves_the_warning_for_the_next_run(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    seeded("census", sqlite_url)
    inbox.data_reply = "421 4.3.2 Service shutting down"
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        result = run_at(lethe, NOW)
        assert result.status is RunStatus.DEGRADED and inbox.received() == []
        assert all("421 4.3.2" in e for e in result.errors) and len(result.errors) == 2
        inbox.data_reply = None
        assert run_at(lethe, NOW + timedelta(hours=1)).phases[0].acted == 2
        assert run_at(lethe, NOW + timedelta(hours=2)).phases[0].acted == 0
        assert len(inbox.received()) == 2


def test_a_crash_after_acceptance_resends_once_with_the_same_message_id(
    sqlite_url: str, tmp_path: Path, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lethe.state.deliveries import DeliveryLedger

    _census, _engine = seeded("census", sqlite_url)
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:

        def die(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt  # the process dies after the server accepted

        with monkeypatch.context() as patch:
            patch.setattr(DeliveryLedger, "delivered", die)
            with pytest.raises(KeyboardInterrupt):
                run_at(lethe, NOW)
        (accepted,) = inbox.received()
        assert [r["status"] for r in deliveries(lethe)] == ["sending"]
        with lethe.runtime.state.write() as conn:  # a SIGKILL would have recorded nothing
            conn.execute(
                text("UPDATE lethe_runs SET status = 'running', lease_expires_at = :t"),
                {"t": NOW + timedelta(minutes=2)},
            )
        # While the claiming run holds its lease (it may still be sending), nobody resends.
        assert run_at(lethe, NOW).phases[0].acted == 1  # only the other owner's notice
        assert len(inbox.received()) == 2 and run_at(lethe, NOW).phases[1].blocked == 1
        resent = run_at(lethe, NOW + timedelta(hours=1))  # past its lease: the run is dead
        assert resent.phases[0].details["resent"] == 1
        copy = inbox.received()[-1]
        assert copy["Message-ID"] == accepted["Message-ID"]  # receivers can drop the copy
        (event,) = [e for e in _events(lethe, "warned") if e["item_key"] == accepted_key(accepted)]
        assert event["details"]["resent_after_unknown_outcome"] is True
        assert run_at(lethe, NOW + timedelta(hours=2)).phases[0].acted == 0


def accepted_key(message) -> str:  # type: ignore[no-untyped-def]
    (key,) = listed_items(message)
    return key


def test_plan_and_dry_run_list_the_messages_and_send_nothing(
    sqlite_url: str,
    tmp_path: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lethe.cli.app import main

    census, engine = seeded("census", sqlite_url)
    add_surveys(engine, census, EXTRA)
    (tmp_path / "lethe.toml").write_text(example_policy("census", warnings=True))
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": sqlite_url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(inbox.port),
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    as_of = ["--as-of", NOW.isoformat()]
    assert main(["plan", *as_of]) == 0
    plan_out = capsys.readouterr().out
    assert "Would send 5 deletion warnings in 2 messages: 30-day: 2, 7-day: 1, 1-day: 2" in plan_out
    assert (
        "to owner1@example.org: 30-day notice for surveys 6, 9; 7-day notice for surveys 8"
        in plan_out
    )
    assert "to owner2@example.org: 1-day notice for surveys 1, 11" in plan_out
    assert main(["run", "--dry-run", "-v", *as_of]) == 0
    dry_out = capsys.readouterr().out
    assert "Would send 5 deletion warnings in 2 messages" in dry_out
    assert "to owner2@example.org: 1-day notice for surveys 1, 11" in dry_out
    assert main(["run", "--dry-run", "--json", *as_of]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["phases"][0]["details"]["warnings"] == 5
    assert "owner1@example.org" not in json.dumps(record)  # run records name nobody
    assert inbox.received() == []
    with sqlite3_state(tmp_path) as db:
        assert db.execute("SELECT count(*) FROM lethe_deliveries").fetchone() == (0,)

    assert main(["run", *as_of]) == 0  # a back-dated run: allowed, but stamped at the real time
    out = capsys.readouterr().out
    assert "Sent 5 deletion warnings in 2 messages: 30-day: 2, 7-day: 1, 1-day: 2" in out
    assert main(["explain", "surveys", "1", *as_of]) == 0
    explained = capsys.readouterr().out
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f"warning: 1d notice (data-governance) delivered {today}" in explained
    assert "warned 1d notice" in explained


def sqlite3_state(directory: Path):  # type: ignore[no-untyped-def]
    import sqlite3
    from contextlib import closing

    return closing(sqlite3.connect(directory / ".lethe" / "state.db"))


def test_held_surveys_are_not_warned_and_an_empty_address_is_an_error(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    _census, engine = seeded("census", sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE auth_user SET email = '' WHERE id = 2"))
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        lethe.holds.add("surveys", "6", "subject access request", "dpo")
        result = run_at(lethe, NOW)
        assert result.phases[0].held == 2 and result.phases[0].acted == 0  # surveys 3 and 6
        (error,) = result.errors
        assert "surveys 1: no recipient address (owner_id → auth_user.email is empty)" in error
        assert result.phases[1].blocked == 1 and inbox.received() == []


def test_without_wait_for_delivery_deletion_does_not_wait(sqlite_url: str, tmp_path: Path) -> None:
    census, engine = seeded("census", sqlite_url)
    policy = example_policy("census", warnings=True).replace(
        'fields = ["name"]', 'fields = ["name"]\nwait_for_delivery = false'
    )
    with census_with_warnings(sqlite_url, tmp_path, free_port(), policy) as lethe:
        result = run_at(lethe, NOW)  # the mail server is down
        assert result.status is RunStatus.DEGRADED
        assert result.phases[1].acted == 1 and 1 not in survey_ids(engine, census)


def test_a_webhook_digest_to_one_channel(sqlite_url: str, tmp_path: Path, hook) -> None:  # type: ignore[no-untyped-def]
    census, engine = seeded("census", sqlite_url)
    add_surveys(engine, census, EXTRA)
    policy = (
        example_policy("census", warnings=True)
        .replace(
            'recipient = { column = "owner_id", table = "auth_user", key = "id", email = "email" }',
            'recipient = { to = "#data-governance" }',
        )
        .replace(
            'sender = { type = "smtp" }', f'sender = {{ type = "webhook", url = "{hook.url}" }}'
        )
    )
    with census_with_warnings(sqlite_url, tmp_path, 1, policy) as lethe:
        result = run_at(lethe, NOW)
        assert result.ok and result.phases[0].acted == 5
        (body_,) = hook.received()
        assert body_["recipient"] == "#data-governance" and body_["dataset"] == "surveys"
        assert sorted((i["key"], i["label"]) for i in body_["items"]) == [
            ("1", "1-day"), ("11", "1-day"), ("6", "30-day"), ("8", "7-day"), ("9", "30-day"),
        ]  # fmt: skip
        assert body_["items"][0]["fields"] == {"name": "Survey 1"}
        assert "5 items of surveys will be deleted" in body_["text"]


def test_a_plan_judges_the_guards_page_by_page_as_it_would_all_at_once(
    sqlite_url: str, tmp_path: Path, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner splits the selection as it reads it (``planning._PAGE`` items at a time):
    with a page of one item each item's guard is asked on its own, and the plan is the same."""
    census, engine = seeded("census", sqlite_url)
    add_surveys(engine, census, EXTRA)
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        run_at(lethe, NOW)
        seen = []
        for at in (NOW, NOW + DAY - timedelta(minutes=1), NOW + 8 * DAY):
            whole = lethe.plan(as_of=at).phases
            with monkeypatch.context() as patched:
                patched.setattr(planning, "_PAGE", 1)
                assert lethe.plan(as_of=at).phases == whole
            seen += [(len(p.keys), len(p.blocked)) for p in whole if p.destructive]
        # Some instants' purges act and hold back items at once: the pages mixed both.
        assert any(acted and blocked for acted, blocked in seen)
