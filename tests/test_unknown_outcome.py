"""A notice whose outcome is unknown — the SMTP server took the message and the connection
dropped before its 250, or lethe was killed between sending and recording — is flagged as
such, never sent twice by one run, and sent again by the next run on its own, under the
Message-ID it first went with, however the recipient's digest changed meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lethe import RunStatus
from lethe.state.db import StateDB
from lethe.state.deliveries import Claim, DeliveryLedger
from lethe.testing import ManualClock
from tests.support.apps import NOW, example_policy, run_at, seeded
from tests.support.mail import Inbox, smtp_server
from tests.support.warnings import (
    add_surveys,
    census_with_warnings,
    deliveries,
    listed_items,
    mail_env,
    survey_ids,
)

HOUR = timedelta(hours=1)
# Seeded at NOW, the Census owes owner1 a 30-day notice (survey 6) and owner2 a 1-day notice
# (survey 1); notices go in address order, so owner2's is a session's second message.


def _warned(lethe, key: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        e
        for e in lethe.runtime.ledger.iter_events()
        if e["event"] == "warned" and e["item_key"] == key
    ]


def _row(lethe, key: str) -> dict:  # type: ignore[no-untyped-def]
    (row,) = [r for r in deliveries(lethe) if r["item_key"] == key]
    return row


def test_a_drop_after_data_on_an_open_session_is_unknown_and_not_resent_in_the_run(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", sqlite_url)
    inbox.drop = {2}  # owner2's message, on the session owner1's opened
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        result = run_at(lethe, NOW)
        (dropped,) = inbox.dropped
        # Before: resent at once on a new connection, two copies, one attempt recorded.
        assert [m["To"] for m in inbox.received()] == ["owner1@example.org"]
        assert inbox.data_commands == 2
        assert result.status is RunStatus.DEGRADED
        (error,) = result.errors
        assert "outcome unknown" in error and dropped["Message-ID"] in error
        assert "surveys 1 " in error and "owner2" not in error
        warn = result.phases[0]
        assert warn.details["outcome_unknown"] == 1
        assert any(line.startswith("Outcome unknown: 1 deletion warnings") for line in warn.summary)
        row = _row(lethe, "1")
        assert (row["status"], row["message_id"], row["attempts"]) == (
            "unknown",
            dropped["Message-ID"],
            1,
        )
        assert result.phases[1].blocked == 1 and 1 in survey_ids(engine, census)
        (shown,) = lethe.explain("surveys", "1", as_of=NOW).warnings
        assert shown.outcome_unknown and shown.message_id == dropped["Message-ID"]

        retry = run_at(lethe, NOW + HOUR)
        assert retry.ok, retry.errors
        copy = inbox.received()[-1]
        assert copy["To"] == "owner2@example.org"
        assert copy["Message-ID"] == dropped["Message-ID"]  # a receiver that has it drops it
        (event,) = _warned(lethe, "1")
        assert event["details"]["resent_after_unknown_outcome"] is True
        assert retry.phases[0].details["resent"] == 1
        assert _row(lethe, "1")["status"] == "delivered"
        assert run_at(lethe, NOW + 2 * HOUR).phases[0].acted == 0
        assert len(inbox.received()) == 2


def test_a_drop_after_data_of_a_sessions_first_message_is_unknown_not_failed(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    seeded("census", sqlite_url)
    inbox.drop = {1}  # owner1's message, the first of the session
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        result = run_at(lethe, NOW)
        (dropped,) = inbox.dropped
        assert inbox.received() == []  # the connection is lost: the run stops sending
        assert _row(lethe, "6")["status"] == "unknown"  # before: "failed", like a refusal
        assert any("outcome unknown" in e for e in result.errors)
        assert any("not attempted" in e for e in result.errors)

        retry = run_at(lethe, NOW + HOUR)
        assert retry.ok, retry.errors
        by_owner = {m["To"]: m for m in inbox.received()}
        assert by_owner["owner1@example.org"]["Message-ID"] == dropped["Message-ID"]
        (event,) = _warned(lethe, "6")
        assert event["details"]["resent_after_unknown_outcome"] is True
        (fresh,) = _warned(lethe, "1")
        assert "resent_after_unknown_outcome" not in fresh["details"]


def test_an_unknown_notice_goes_again_alone_when_the_digest_gained_items(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    census, engine = seeded("census", sqlite_url)
    inbox.drop = {1}
    with census_with_warnings(sqlite_url, tmp_path, inbox.port) as lethe:
        run_at(lethe, NOW)
        (dropped,) = inbox.dropped
        assert listed_items(dropped) == {"6"}
        # Before the next run, owner1 is owed a 7-day notice as well.
        add_surveys(engine, census, [(8, 1, 5, "Staff survey")])
        retry = run_at(lethe, NOW + HOUR)
        assert retry.ok, retry.errors
        to_owner1 = [m for m in inbox.received() if m["To"] == "owner1@example.org"]
        # Before: one digest of surveys 6 and 8 under a new Message-ID, so the owner could
        # get two notices with different dates for survey 6.
        copy, digest = to_owner1
        assert copy["Message-ID"] == dropped["Message-ID"] and listed_items(copy) == {"6"}
        assert listed_items(digest) == {"8"} and digest["Message-ID"] != copy["Message-ID"]
        assert _row(lethe, "8")["message_id"] == digest["Message-ID"]
        assert lethe.verify_audit().ok


def test_a_kill_between_send_and_record_resends_alone_under_the_same_message_id(
    sqlite_url: str, tmp_path: Path
) -> None:
    """``kill -9`` while the server holds the message: the claim stays ``sending``; once it
    counts as abandoned, the next run sends that message again alone, same Message-ID."""
    census, engine = seeded("census", sqlite_url)
    (tmp_path / "lethe.toml").write_text(example_policy("census", warnings=True))
    with smtp_server() as inbox:
        inbox.hold = threading.Event()
        env = {**os.environ, "DATABASE_URL": sqlite_url, **mail_env(inbox.port)}
        child = subprocess.Popen(
            [sys.executable, "-m", "lethe", "run", "--as-of", NOW.isoformat()],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert inbox.data_arrived.wait(60), "the run never sent its first message"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(30)
            inbox.hold.set()
        (held,) = inbox.received()  # owner1's 30-day notice reached the server
        assert listed_items(held) == {"6"}
        # The killed run held a lease on the real clock: look once it has run out.
        later = ManualClock(datetime.now(UTC) + timedelta(minutes=3))
        with census_with_warnings(sqlite_url, tmp_path, inbox.port, clock=later) as lethe:
            assert _row(lethe, "6")["status"] == "sending"
            add_surveys(engine, census, [(8, 1, 5, "Staff survey")])  # owner1 owes a 7-day too
            retry = lethe.run(as_of=NOW + HOUR)  # back-dated: the seed's instant
            assert retry.ok, retry.errors
            to_owner1 = [m for m in inbox.received()[1:] if m["To"] == "owner1@example.org"]
            copy, digest = to_owner1
            assert copy["Message-ID"] == held["Message-ID"] and listed_items(copy) == {"6"}
            assert listed_items(digest) == {"8"}
            (event,) = _warned(lethe, "6")
            assert event["details"]["resent_after_unknown_outcome"] is True
            assert retry.phases[0].details["resent"] == 1


def test_the_ledger_never_gives_an_unknown_pair_back_to_the_run_that_sent_it(
    tmp_path: Path,
) -> None:
    ledger = DeliveryLedger(StateDB(f"sqlite:///{tmp_path / 'state.db'}"))
    entries = [("7", "1d")]

    def claim(run_id: str) -> Claim:
        return ledger.claim(
            policy="p",
            dataset="d",
            run_id=run_id,
            entries=entries,
            recipient_sha256="h",
            message_id=f"<{run_id}@lethe>",
        )

    assert claim("run-1").entries == (("7", "1d"),)
    ledger.unknown("p", "run-1", entries, "connection lost after DATA", "<sent@lethe>")
    assert claim("run-1").entries == ()
    later = claim("run-2")
    assert later.resumed == (("7", "1d"),)
    assert later.previous == {("7", "1d"): "<sent@lethe>"}
    (row,) = ledger.for_item("d", "7")
    assert (row.status, row.message_id, row.attempts) == ("sending", "<sent@lethe>", 2)
