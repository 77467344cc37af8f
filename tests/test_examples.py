"""Every seed system's SQL jobs, run end to end from the examples on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.apps import (
    EXAMPLES,
    NOW,
    as_utc,
    column_values,
    example_lethe,
    keys,
    run_at,
    seeded,
)
from tests.support.mail import Inbox
from tests.support.warnings import census_with_warnings, listed_items


def _events(lethe, event: str) -> dict[str, dict]:
    return {e["item_key"]: e for e in lethe.runtime.ledger.iter_events() if e["event"] == event}


def test_census_soft_deletes_then_hard_deletes_after_grace_and_honours_holds(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        result = run_at(lethe, NOW)
        assert result.ok
        soft, hard = result.phases
        assert (soft.acted, soft.held) == (1, 1)
        assert (hard.acted, hard.held) == (2, 1)
        assert hard.cascade == {"surveys_surveyresponse": 6, "surveys_legalhold": 1}

        assert keys(engine, census.surveys) == {1, 3, 4, 5, 6}
        deleted_at = column_values(engine, census.surveys, "id", "deleted_at")
        assert as_utc(deleted_at[1]) == NOW  # soft-deleted by this run
        assert deleted_at[3] is None and deleted_at[6] is None  # held / not due
        with engine.connect() as conn:
            survivors = set(conn.execute(select(census.responses.c.survey_id)).scalars())
        assert survivors == {1, 3, 4, 5, 6}

        hard_events = _events(lethe, "hard_deleted")
        assert set(hard_events) == {"2", "7"}
        assert hard_events["2"]["details"]["cascade"] == {"surveys_surveyresponse": 3}
        assert set(_events(lethe, "skipped_hold")) == {"3", "4"}

        again = run_at(lethe, NOW)
        assert again.deleted == 0
        assert lethe.verify_audit().ok


@pytest.mark.parametrize("name", ["census", "checktick"])
def test_survey_owners_are_warned_before_their_surveys_go(
    app_url: str, tmp_path: Path, inbox: Inbox, name: str
) -> None:
    """The seeds' 30/7/1-day emails: each owner hears once per milestone, and a survey is
    soft-deleted only a day after its 1-day notice, here a day late as none was sent before."""
    module, engine = seeded(name, app_url)
    surveys = getattr(module, "census", module).surveys  # CheckTick reuses Census's tables
    with census_with_warnings(app_url, tmp_path, inbox.port, name=name) as lethe:
        first = run_at(lethe, NOW, ["data-governance"])
        warn, soft, hard = first.phases
        assert warn.summary == (
            "Sent 2 deletion warnings in 2 messages: 30-day: 1, 7-day: 0, 1-day: 1",
        )
        assert (soft.acted, soft.blocked, hard.acted) == (0, 1, 2)
        sent = {m["To"]: listed_items(m) for m in inbox.received()}
        assert sent == {"owner1@example.org": {"6"}, "owner2@example.org": {"1"}}

        second = run_at(lethe, NOW + timedelta(days=1), ["data-governance"])
        assert [p.acted for p in second.phases] == [0, 1, 0]
        deleted_at = column_values(engine, surveys, "id", "deleted_at")
        assert as_utc(deleted_at[1]) == NOW + timedelta(days=1)
        # Survey 6 is due in 20 days: its 7-day and 1-day notices come on time.
        for day in (13, 19, 20):
            run_at(lethe, NOW + timedelta(days=day), ["data-governance"])
        notices = [
            (e["details"]["milestone"], e["item_key"])
            for e in lethe.runtime.ledger.iter_events()
            if e["event"] == "warned"
        ]
        assert notices == [("30d", "6"), ("1d", "1"), ("7d", "6"), ("1d", "6")]
        assert as_utc(column_values(engine, surveys, "id", "deleted_at")[6]) == (
            NOW + timedelta(days=20)
        )
        assert len(inbox.received()) == 4 and lethe.verify_audit().ok


def test_checktick_progress_cleanup_deletes_only_stale_incomplete_progress(
    app_url: str, tmp_path: Path
) -> None:
    checktick, engine = seeded("checktick", app_url)
    with example_lethe("checktick", app_url, tmp_path) as lethe:
        result = run_at(lethe, NOW, ["progress-cleanup"])
        assert [p.acted for p in result.phases] == [3]
        assert keys(engine, checktick.progress) == {4, 5, 6}
        governance = run_at(lethe, NOW, ["data-governance"])
        assert [p.acted for p in governance.phases] == [1, 2]


def test_therapy_account_deletion_cascades_over_both_roles(app_url: str, tmp_path: Path) -> None:
    therapy, engine = seeded("therapy", app_url)
    alice, carol, dave, erin = (
        therapy.ALICE,
        therapy.CAROL,
        therapy.DAVE,
        therapy.ERIN,
    )
    with example_lethe("therapy", app_url, tmp_path) as lethe:
        result = run_at(lethe, NOW)
        assert result.ok and result.errors == ()
        assert result.deleted == 2
        remaining = {str(k).replace("-", "") for k in keys(engine, therapy.profiles)}
        assert remaining == {str(u).replace("-", "") for u in (carol, dave, erin)}
        with engine.connect() as conn:
            notes = conn.execute(
                select(therapy.clinical_notes.c.patient_id, therapy.clinical_notes.c.therapist_id)
            ).all()
            links = conn.execute(
                select(
                    therapy.therapist_patients.c.patient_id,
                    therapy.therapist_patients.c.therapist_id,
                )
            ).all()
            check_in_owners = set(conn.execute(select(therapy.check_ins.c.user_id)).scalars())
        assert notes == [(carol, dave)] and links == [(carol, dave)]
        assert check_in_owners == {carol, erin}
        events = _events(lethe, "hard_deleted")
        assert len(events) == 2
        by_alice = next(
            e for k, e in events.items() if k.replace("-", "") == str(alice).replace("-", "")
        )
        # The note and the link between Alice and Bob went once, counted with Bob (the first
        # of the two in key order): per-item counts add up to the rows that left each table.
        assert by_alice["details"]["cascade"] == {
            "check_ins": 2,
            "crisis_plan": 1,
            "clinical_notes": 1,
            "therapist_patients": 1,
            "user_consent": 1,
        }
        by_bob = next(e for e in events.values() if e is not by_alice)
        assert by_bob["details"]["cascade"]["clinical_notes"] == 2
        assert result.counts()["clinical_notes"] == {"purge": 3}
        assert run_at(lethe, NOW).deleted == 0


def test_therapy_job_script_prints_stats_with_an_errors_array(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'therapy.db'}"
    seeded("therapy", url, now=datetime.now(UTC))  # the script runs at the real time
    for name in ("lethe.toml", "scheduled_deletion.py"):
        (tmp_path / name).write_text((EXAMPLES / "therapy" / name).read_text())
    out = subprocess.run(
        [sys.executable, str(tmp_path / "scheduled_deletion.py")],
        capture_output=True,
        text=True,
        check=True,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    stats = json.loads(out.stdout)
    assert stats["errors"] == [] and stats["deleted"] == 2
    assert stats["rows"]["profiles"]["purge"] == 2


def test_validibot_housekeeping_jobs(app_url: str, tmp_path: Path) -> None:
    validibot, engine = seeded("validibot", app_url)
    with example_lethe("validibot", app_url, tmp_path) as lethe:
        result = run_at(lethe, NOW)
        assert result.ok
        assert keys(engine, validibot.sessions, "session_key") == {"s2", "s3"}
        assert keys(engine, validibot.idempotency_keys) == {3, 4}
        assert keys(engine, validibot.callback_receipts) == {3, 4}
        content = column_values(engine, validibot.submissions, "id", "content")
        purged = column_values(engine, validibot.submissions, "id", "content_purged_at")
        assert content == {1: None, 2: "<xml/>", 3: None}
        assert as_utc(purged[1]) == NOW and purged[2] is None
        status = column_values(engine, validibot.runs, "id", "status")
        finished = column_values(engine, validibot.runs, "id", "finished_at")
        assert status == {1: "FAILED", 2: "FAILED", 3: "RUNNING", 4: "SUCCEEDED"}
        assert as_utc(finished[1]) == NOW and finished[3] is None
        again = run_at(lethe, NOW)
        assert sum(p.acted for p in again.phases) == 0
