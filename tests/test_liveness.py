"""A run is alive while it is ``running`` within its lease — never judged by a pid.

A pid proves nothing: another host (every Kubernetes pod) or another PID namespace on the same
hostname reuses the numbers, and a zombie keeps one. These tests give dead and live runs
misleading identities and check that recovery, the delivery ledger and the audit judge them
by their lease alone, and that settling a dead run's batch never audits an item twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from lethe import LeaseLostError, Lethe, StoreError
from lethe.engine.recovery import recover
from lethe.state.deliveries import DeliveryLedger
from lethe.state.ledger import EventDraft
from lethe.testing import ManualClock
from tests.support.crash import KILL_AT_THIRD_INTENT, purge_census

REPO = Path(__file__).resolve().parents[1]
SURVEYS = 40
BATCH = 5
LEASE = timedelta(minutes=2)  # the default scheduler.lease
DUE = datetime(2024, 10, 26, tzinfo=UTC)


def _setup(url: str, tmp_path: Path) -> Path:
    return purge_census(url, tmp_path, surveys=SURVEYS, responses=1, batch_size=BATCH, due=DUE)


def _killed_run(policy: Path, tmp_path: Path) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILL_AT_THIRD_INTENT)
    child = subprocess.run(
        [sys.executable, str(script), "-c", str(policy), "run"],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def _pretend(lethe: Lethe, identity: dict[str, Any]) -> None:
    """Give every run and intent on record another process's identity."""
    with lethe.runtime.state.write() as conn:
        for run_id, record in conn.execute(text("SELECT id, record FROM lethe_runs")).all():
            doc = record if isinstance(record, dict) else json.loads(record)
            doc["process"] = identity
            conn.execute(
                text("UPDATE lethe_runs SET record = :r WHERE id = :i"),
                {"r": json.dumps(doc), "i": run_id},
            )
        rows = conn.execute(text("SELECT id, payload FROM lethe_batches")).all()
        for batch_id, payload in rows:
            doc = payload if isinstance(payload, dict) else json.loads(payload)
            doc["process"] = identity
            conn.execute(
                text("UPDATE lethe_batches SET payload = :p WHERE id = :i"),
                {"p": json.dumps(doc), "i": batch_id},
            )


def _hard_deleted(lethe: Lethe) -> list[str]:
    events = lethe.runtime.ledger.iter_events()
    return sorted((e["item_key"] for e in events if e["event"] == "hard_deleted"), key=int)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_settling_a_dead_runs_batch_never_claims_items_a_later_run_audited(
    app_url: str, tmp_path: Path
) -> None:
    """The issue's duplicate: a run killed with an intent pending (its deletes rolled back)
    ran on another host. The next run deletes and audits those items itself; settling the
    old intent two hours later must not audit them a second time."""
    policy = _setup(app_url, tmp_path)
    _killed_run(policy, tmp_path)
    with Lethe.from_file(policy, env={}) as lethe:
        _pretend(lethe, {"host": "another-pod", "pid": 1})
        assert len(lethe.runtime.batches.pending()) == 1
        lethe.run()  # the dead run's lease is still valid: its intent waits
        assert len(lethe.runtime.batches.pending()) == 1
        assert _hard_deleted(lethe) == [str(i) for i in range(1, SURVEYS + 1)]
    later = ManualClock(datetime.now(UTC) + timedelta(hours=2))
    with Lethe.from_file(policy, env={}, clock=later) as lethe:
        lethe.run()
        assert lethe.runtime.batches.pending() == []
        assert _hard_deleted(lethe) == [str(i) for i in range(1, SURVEYS + 1)], "audited twice"
        assert lethe.verify_audit().ok
        dead = lethe.runs(5)[-1]
        assert dead["status"] == "interrupted" and dead["deleted"] == 2 * BATCH  # reconciled


def test_a_live_run_whose_pid_is_gone_here_is_left_alone(app_url: str, tmp_path: Path) -> None:
    """Same hostname, another PID namespace: the pid names no process here, yet the run holds
    its lease. Neither it nor its pending batch may be touched."""
    policy = _setup(app_url, tmp_path)
    _killed_run(policy, tmp_path)
    with Lethe.from_file(policy, env={}) as lethe:
        _pretend(lethe, {"host": socket.gethostname(), "pid": _dead_pid()})
        notes = recover(lethe.runtime)
        assert notes == []
        assert [r["status"] for r in lethe.runs()] == ["running"]
        assert len(lethe.runtime.batches.pending()) == 1


def test_a_run_past_its_lease_is_settled_though_its_pid_exists(
    app_url: str, tmp_path: Path
) -> None:
    """A zombie, or an unrelated process with the same pid: the lease expired, so the run is
    dead and its batch is settled in the same pass."""
    policy = _setup(app_url, tmp_path)
    _killed_run(policy, tmp_path)
    later = ManualClock(datetime.now(UTC) + LEASE + timedelta(seconds=5))
    with Lethe.from_file(policy, env={}, clock=later) as lethe:
        _pretend(lethe, {"host": socket.gethostname(), "pid": os.getpid()})
        notes = recover(lethe.runtime)
        assert any("lease expired" in n for n in notes), notes
        assert lethe.runtime.batches.pending() == []
        [dead] = lethe.runs()
        assert dead["status"] == "interrupted" and dead["deleted"] == 2 * BATCH
        record = lethe.run_record(str(dead["runId"]))
        assert record["counts"] == {
            "surveys_survey": {"purge": 10},
            "surveys_surveyresponse": {"purge": 10},
        }
        assert "rebuilt from" in record["reconciled"]


def test_a_run_taken_for_dead_cannot_start_another_batch(app_url: str, tmp_path: Path) -> None:
    """Once another process marked the run interrupted, its next intent is refused and that
    batch rolls back: nothing more is deleted under a run that is being settled."""
    policy = _setup(app_url, tmp_path)
    with Lethe.from_file(policy, env={}) as lethe:

        def reaped_after_the_first_batch(report: object) -> None:
            with lethe.runtime.state.write() as conn:
                conn.execute(text("UPDATE lethe_runs SET status = 'interrupted'"))

        with pytest.raises(LeaseLostError):
            lethe.run(progress=reaped_after_the_first_batch)
        assert _hard_deleted(lethe) == [str(i) for i in range(1, BATCH + 1)]
    engine = create_engine(policy.read_text().split('url = "')[1].split('"')[0])
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM surveys_survey")).scalar_one()
    engine.dispose()
    assert left == SURVEYS - BATCH


def test_a_commit_after_its_batch_was_settled_appends_only_what_is_missing(
    tmp_path: Path,
) -> None:
    """The run was taken for dead and its intent settled (the effect was visible) while its
    own commit was on its way: the deletion is audited once."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    policy = _setup(url, tmp_path)
    with Lethe.from_file(policy, env={}) as lethe:
        rt = lethe.runtime
        rt.runs.start("run-a", ["purge"], False, DUE, rt.state.now(), LEASE)
        drafts = [
            EventDraft(run_id="run-a", event="hard_deleted", policy="purge", dataset="surveys",
                       phase=0, item_key="1", batch_id="b-1", details={"action": "purge"})
        ]  # fmt: skip
        rt.batches.prepare("b-1", "run-a", "purge", 0, ["1"], "hard_deleted", drafts)
        rt.batches.settle("b-1", {"1"}, note="settled by another process")
        rt.batches.commit("b-1", drafts)
        assert _hard_deleted(lethe) == ["1"]


def test_audit_verify_reports_an_item_with_two_events_of_one_destructive_action(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Lethe.from_file(_setup(url, tmp_path), env={}) as lethe:
        rt = lethe.runtime
        for run_id in ("run-one", "run-two"):
            with rt.state.write() as conn:
                rt.ledger.append(
                    conn,
                    [EventDraft(run_id=run_id, event="hard_deleted", dataset="surveys",
                                item_key="4", details={"action": "purge"})],
                )  # fmt: skip
        report = lethe.verify_audit()
        assert not report.ok
        assert report.problems == (
            "dataset surveys item 4: hard_deleted recorded more than once (runs run-one, "
            "run-two): one hard_deleted audited twice",
        )


# -- the delivery ledger --------------------------------------------------------------------


def _claimed_by(lethe: Lethe, run_id: str, lease: timedelta, identity: dict[str, Any]) -> None:
    rt = lethe.runtime
    now = rt.state.now()
    rt.runs.start(run_id, ["purge"], False, now, now, lease)
    claim = DeliveryLedger(rt.state).claim(
        policy="purge", dataset="surveys", run_id=run_id, entries=[("7", "1d")],
        recipient_sha256="0" * 64, message_id="<m@x>",
    )  # fmt: skip
    assert claim.entries == (("7", "1d"),)
    with rt.state.write() as conn:
        conn.execute(
            text("UPDATE lethe_deliveries SET claimed_by = :c"),
            {"c": json.dumps(identity)},
        )


@pytest.mark.parametrize(
    ("lease", "pid", "in_flight"),
    [
        (LEASE, "dead", True),  # same hostname, another PID namespace: alive by its lease
        (-timedelta(seconds=1), "mine", False),  # a zombie's (or a stranger's) pid: dead
    ],
)
def test_a_delivery_claim_is_judged_by_its_runs_lease_not_its_pid(
    tmp_path: Path, lease: timedelta, pid: str, in_flight: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Lethe.from_file(_setup(url, tmp_path), env={}) as lethe:
        number = _dead_pid() if pid == "dead" else os.getpid()
        _claimed_by(lethe, "run-a", lease, {"host": socket.gethostname(), "pid": number})
        row = DeliveryLedger(lethe.runtime.state).lookup("purge", ["7"])["7"]["1d"]
        assert row.in_flight is in_flight
        retry = DeliveryLedger(lethe.runtime.state).claim(
            policy="purge", dataset="surveys", run_id="run-b", entries=[("7", "1d")],
            recipient_sha256="0" * 64, message_id="<m@x>",
        )  # fmt: skip
        assert retry.entries == (() if in_flight else (("7", "1d"),))


def test_a_run_whose_claims_were_taken_over_audits_nothing_for_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Lethe.from_file(_setup(url, tmp_path), env={}) as lethe:
        _claimed_by(lethe, "run-a", -timedelta(seconds=1), {"host": "h", "pid": 1})
        ledger = DeliveryLedger(lethe.runtime.state)
        taken = ledger.claim(
            policy="purge", dataset="surveys", run_id="run-b", entries=[("7", "1d")],
            recipient_sha256="0" * 64, message_id="<m@x>",
        )  # fmt: skip
        assert taken.resumed == (("7", "1d"),)
        warned = EventDraft(run_id="run-a", event="warned", policy="purge", dataset="surveys",
                            item_key="7", details={"milestone": "1d"})  # fmt: skip
        ledger.delivered("purge", "run-a", [("7", "1d")], "<m@x>", [warned])  # run-a wakes up
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "warned"]
        assert events == []
        assert ledger.lookup("purge", ["7"])["7"]["1d"].run_id == "run-b"


def test_a_run_whose_state_database_failed_is_recorded_with_what_it_deleted(
    pg_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """The state server goes away mid-run (here: connections refused and cut); the run can
    record nothing more. Once it is back and the run's lease has run out, the run is marked
    interrupted with the deletions its audit events prove, not "deleted 0"."""
    app = f"sqlite:///{tmp_path / 'app.db'}"
    policy = _setup(app, tmp_path)
    policy.write_text(f'[state]\nurl = "{pg_url}"\n' + policy.read_text())
    database = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")

    def outage(connect: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {database} ALLOW_CONNECTIONS {connect}"))
            if not connect:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                )

    batches = {"n": 0}

    def after_each_batch(report: object) -> None:
        batches["n"] += 1
        if batches["n"] == 2:
            outage(connect=False)

    try:
        with Lethe.from_file(policy, env={}) as lethe, pytest.raises(StoreError):
            lethe.run(progress=after_each_batch)
    finally:
        outage(connect=True)
        admin.dispose()
    later = ManualClock(datetime.now(UTC) + LEASE + timedelta(seconds=5))
    with Lethe.from_file(policy, env={}, clock=later) as lethe:
        recover(lethe.runtime)
        [dead] = lethe.runs()
        assert dead["status"] == "interrupted"
        assert dead["deleted"] == len(_hard_deleted(lethe)) == 2 * BATCH
