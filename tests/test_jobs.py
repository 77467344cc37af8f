"""Jobs on the slot ledger with a fake clock: catch-up after downtime, duplicates and early
triggers, overlap (skip and buffer_one), pause and resume, retries with backoff, timeouts,
fencing, and the scheduler daemon across a DST change."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, update

from lethe.errors import LeaseLostError
from lethe.jobs.claims import ClaimStatus
from lethe.jobs.runner import JobService
from lethe.jobs.scheduler import Scheduler
from lethe.model.results import RunStatus
from lethe.schedule.clock import ManualClock
from lethe.schedule.decide import SlotStatus
from lethe.state.runs import RunLog
from lethe.state.schema import slots
from tests.support.jobs import at, items, make_items, minutes, remaining, settings_for

DAILY = """
[[jobs]]
name = "nightly"
schedule = "0 2 * * *"
timezone = "Australia/Sydney"
policies = ["purge-items"]
"""


def _service(tmp_path: Path, jobs: str, start: str, rows: int = 3, **options: object) -> JobService:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, rows)
    clock = ManualClock(at(start))
    return JobService(settings_for(tmp_path, app, jobs, **options), clock=clock)


def _clock(service: JobService) -> ManualClock:
    assert isinstance(service.clock, ManualClock)
    return service.clock


def _statuses(service: JobService, job: str) -> list[tuple[str, str, int]]:
    return [
        (r.slot.isoformat(), r.status.value, r.covers)
        for r in reversed(service.ledger.history(job))
    ]


def test_a_new_job_runs_its_newest_slot_in_the_window_once(tmp_path: Path) -> None:
    service = _service(tmp_path, DAILY, "2024-10-10T09:00:00+00:00")  # 20:00 in Sydney
    claim, runs = service.fire("nightly", trigger="test")
    assert claim.status is ClaimStatus.STARTED
    assert claim.slot == at("2024-10-09T15:00:00+00:00")  # 02:00 AEDT that day
    assert [r.status for r in runs] == [SlotStatus.SUCCEEDED]
    assert remaining(f"sqlite:///{tmp_path / 'app.db'}") == 0
    again, more = service.fire("nightly", trigger="retry of the same call")
    assert (again.status, again.run_id, more) == (ClaimStatus.DUPLICATE, claim.run_id, [])


def test_after_downtime_the_latest_slot_inside_catch_up_runs_once_and_the_rest_are_recorded(
    tmp_path: Path,
) -> None:
    service = _service(tmp_path, DAILY, "2024-10-01T16:00:00+00:00")
    service.fire("nightly", trigger="test")  # 2 October, 02:00 AEST
    _clock(service).advance(timedelta(days=6))  # down for six days: now 8 October, 03:00 AEDT
    claim, runs = service.fire("nightly", trigger="test")
    assert claim.slot == at("2024-10-07T15:00:00+00:00") and len(runs) == 1
    assert _statuses(service, "nightly") == [
        ("2024-10-01T16:00:00+00:00", "succeeded", 1),
        ("2024-10-04T16:00:00+00:00", "missed", 3),  # 3, 4 and 5 October: before the window
        ("2024-10-06T15:00:00+00:00", "coalesced", 2),  # 6 October (03:00 AEDT: DST) and 7th
        ("2024-10-07T15:00:00+00:00", "succeeded", 1),  # 8 October, run once for all three
    ]
    assert [s.missed for s in _job_statuses(service)] == [3]


def _job_statuses(service: JobService):  # type: ignore[no-untyped-def]
    from lethe.jobs.status import job_statuses

    return job_statuses(service.config.jobs, service.ledger, service.clock.now())


def test_downtime_longer_than_catch_up_runs_nothing_until_the_next_slot(tmp_path: Path) -> None:
    jobs = DAILY + 'catch_up = "1h"\n'
    service = _service(tmp_path, jobs, "2024-10-01T16:10:00+00:00")
    assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.STARTED
    _clock(service).set(at("2024-10-03T18:00:00+00:00"))  # 3 and 4 October passed, 2 h ago
    claim, runs = service.fire("nightly", trigger="test")
    assert (claim.status, claim.slot_status, runs) == (ClaimStatus.NOT_DUE, "missed", [])
    assert _statuses(service, "nightly")[-1] == ("2024-10-03T16:00:00+00:00", "missed", 2)


def test_an_early_trigger_within_tolerance_counts_as_the_coming_slot(tmp_path: Path) -> None:
    service = _service(tmp_path, DAILY, "2024-11-01T16:00:00+00:00")  # AEDT: 02:00 is 15:00 UTC
    service.fire("nightly", trigger="test")
    _clock(service).set(at("2024-11-02T14:55:00+00:00"))  # five minutes early
    early = service.claim("nightly", trigger="test")
    assert early.status is ClaimStatus.DUPLICATE and early.slot == at("2024-11-01T15:00:00+00:00")
    _clock(service).set(at("2024-11-02T14:59:30+00:00"))  # 30 s early: inside the 1 min tolerance
    claim = service.claim("nightly", trigger="test")
    assert claim.status is ClaimStatus.STARTED and claim.slot == at("2024-11-02T15:00:00+00:00")


def test_overlap_skip_records_slots_due_while_a_run_is_in_flight(tmp_path: Path) -> None:
    jobs = DAILY.replace("0 2 * * *", "*/10 * * * *")
    service = _service(tmp_path, jobs, "2024-10-01T00:01:00+00:00")
    first = service.claim("nightly", trigger="test")  # claimed, still running
    _clock(service).advance(minutes(1))  # the claim's lease is still alive
    for _ in range(2):
        _clock(service).advance(minutes(10) - minutes(0.5))
        _keep_alive(service)
        skipped = service.claim("nightly", trigger="test")
        assert skipped.status is ClaimStatus.SKIPPED
    assert [s for _, s, _ in _statuses(service, "nightly")] == ["claimed", "skipped", "skipped"]
    assert first.status is ClaimStatus.STARTED


def _keep_alive(service: JobService) -> None:
    """The claim's lease renewed, as the heartbeat of a real run would."""
    with service.ledger.state.write() as conn:
        conn.execute(update(slots).values(lease_expires_at=service.clock.now() + minutes(5)))


def test_buffer_one_queues_one_slot_and_runs_it_after_the_run_in_flight(tmp_path: Path) -> None:
    jobs = DAILY.replace("0 2 * * *", "*/10 * * * *") + 'overlap = "buffer_one"\n'
    service = _service(tmp_path, jobs, "2024-10-01T00:01:00+00:00")
    first = service.claim("nightly", trigger="test")
    _clock(service).advance(minutes(10))
    _keep_alive(service)
    assert service.claim("nightly", trigger="test").status is ClaimStatus.QUEUED
    _clock(service).advance(minutes(10))
    _keep_alive(service)
    folded = service.claim("nightly", trigger="test")
    assert (folded.status, folded.slot_status) == (ClaimStatus.SKIPPED, "coalesced")
    report = service.execute(first)
    assert report.status is SlotStatus.SUCCEEDED
    followed = service.follow("nightly", trigger="test")
    assert [r.slot for r in followed] == [at("2024-10-01T00:10:00+00:00")]
    assert [s for _, s, _ in _statuses(service, "nightly")] == [
        "succeeded",
        "succeeded",
        "coalesced",
    ]


def test_pause_skips_due_slots_and_resume_does_not_catch_them_up(tmp_path: Path) -> None:
    service = _service(tmp_path, DAILY, "2024-10-01T16:00:00+00:00")
    service.fire("nightly", trigger="test")
    service.set_paused("nightly", True, "ops")
    _clock(service).advance(timedelta(days=1))
    claim, runs = service.fire("nightly", trigger="test")
    assert (claim.status, runs) == (ClaimStatus.SKIPPED, [])
    _clock(service).advance(timedelta(days=1))
    service.set_paused("nightly", False, "ops")
    claim, runs = service.fire("nightly", trigger="test")
    assert claim.status is ClaimStatus.SKIPPED  # the slot that came due while paused
    assert [s for _, s, _ in _statuses(service, "nightly")] == ["succeeded", "skipped", "skipped"]
    _clock(service).advance(timedelta(days=1))
    assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.STARTED


def test_a_failed_slot_is_retried_after_its_backoff_while_attempts_remain(tmp_path: Path) -> None:
    jobs = DAILY + 'retries = 1\nbackoff = "10m"\n'
    service = _service(tmp_path, jobs, "2024-10-01T16:00:00+00:00", rows=0)
    app = f"sqlite:///{tmp_path / 'app.db'}"
    from sqlalchemy import create_engine, text

    engine = create_engine(app)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE items RENAME TO items_gone"))
    _, runs = service.fire("nightly", trigger="test")
    assert runs[0].status is SlotStatus.FAILED and "items" in (runs[0].note or "")
    _clock(service).advance(minutes(5))
    assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.DUPLICATE
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE items_gone RENAME TO items"))
    engine.dispose()
    _clock(service).advance(minutes(6))
    claim, runs = service.fire("nightly", trigger="test")
    assert claim.status is ClaimStatus.STARTED and claim.reason.startswith("retry 1 of 1")
    assert runs[0].status is SlotStatus.SUCCEEDED
    assert service.ledger.history("nightly")[0].attempt == 2


def test_a_run_past_its_timeout_stops_after_the_current_batch(tmp_path: Path) -> None:
    jobs = DAILY + 'timeout = "1s"\n'
    service = _service(tmp_path, jobs, "2024-10-01T16:00:00+00:00", rows=6000, batch_size=5)
    _, runs = service.fire("nightly", trigger="test")
    assert runs[0].status is SlotStatus.INTERRUPTED
    assert "timeout" in (runs[0].note or "")
    left = remaining(f"sqlite:///{tmp_path / 'app.db'}")
    assert 0 < left < 6000 and left % 5 == 0  # whole batches only
    record = RunLog(service.state, None).show(runs[0].run_id)
    assert record["status"] == RunStatus.INTERRUPTED.value


def test_a_runner_that_lost_its_slot_cannot_record_its_outcome(tmp_path: Path) -> None:
    service = _service(tmp_path, DAILY, "2024-10-01T16:00:00+00:00")
    claim = service.claim("nightly", trigger="dead runner")
    assert claim.row is not None and service.ledger.start(claim.row, service.clock.now())
    _clock(service).advance(minutes(3))  # past the 2 min claim lease, no run ever started
    service.claim("nightly", trigger="reaper")
    assert service.ledger.history("nightly")[0].status is SlotStatus.FAILED
    assert not service.ledger.finish(claim.row, SlotStatus.SUCCEEDED, service.clock.now(), None)
    assert service.ledger.history("nightly")[0].status is SlotStatus.FAILED


def test_a_run_reaped_by_another_process_may_not_write_its_final_record(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from lethe.model.results import RunResult

    service = _service(tmp_path, DAILY, "2024-10-01T16:00:00+00:00")
    runs = RunLog(service.state, None)
    now = datetime.now(UTC)
    runs.start("run-x", ["purge-items"], False, now, now, timedelta(minutes=2))
    assert not runs.reap("run-x", now)  # alive: its lease runs for two minutes
    assert runs.reap("run-x", now + minutes(3))
    assert not runs.heartbeat("run-x", now, now + minutes(2))
    result = RunResult(
        run_id="run-x",
        dry_run=False,
        as_of=now,
        started_at=now,
        completed_at=now,
        status=RunStatus.SUCCEEDED,
        policies=("purge-items",),
        phases=(),
        errors=(),
        warnings=(),
        limit_tripped=None,
        drift={},
    )
    with pytest.raises(LeaseLostError, match="lost its lease"):
        runs.finish(result, (0, "0" * 64))
    assert runs.show("run-x")["status"] == "interrupted"


def test_the_scheduler_runs_each_slot_once_across_a_dst_change(tmp_path: Path) -> None:
    jobs = """
    [[jobs]]
    name = "half-hourly"
    schedule = "*/30 * * * *"
    timezone = "Australia/Sydney"
    policies = ["purge-items"]
    [[jobs]]
    name = "nightly"
    schedule = "30 2 * * *"
    timezone = "Australia/Sydney"
    policies = ["purge-items"]
    """
    service = _service(tmp_path, jobs, "2024-10-05T13:01:00+00:00")  # 23:01 AEST, 5 October
    daemon = Scheduler(service, workers=0)
    while service.clock.now() < at("2024-10-05T23:00:00+00:00"):  # 10:00 AEDT, 6 October
        service.clock.sleep(daemon.step(), daemon.stop)
    half = [r for r in reversed(service.ledger.history("half-hourly", 100)) if r.run_id]
    assert all(r.status is SlotStatus.SUCCEEDED for r in half)
    slots = [r.slot for r in half]
    assert slots == sorted(set(slots))
    assert all(b - a == minutes(30) for a, b in pairwise(slots))
    nightly = [r for r in service.ledger.history("nightly") if r.run_id]
    # Its first run is its newest slot in the window; on the 6th, 02:30 does not exist: 03:00.
    assert [r.slot for r in nightly] == [at("2024-10-05T16:00:00Z"), at("2024-10-04T16:30:00Z")]
    assert len(half) == 20  # 23:30 … 10:00, less the hour that did not exist


def test_a_job_run_judges_at_its_service_clock_not_the_real_time(tmp_path: Path) -> None:
    # Due by the real time, not yet by the service's clock: a run that read the real time
    # (it did, before the runner passed its clock on) would delete it.
    service = _service(tmp_path, DAILY, "2024-10-10T09:00:00+00:00", rows=1)
    app = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(app)
    with engine.begin() as conn:
        conn.execute(insert(items), [{"id": 2, "due_at": at("2025-06-01T00:00:00+00:00")}])
    engine.dispose()
    claim, runs = service.fire("nightly", trigger="test")
    assert [r.status for r in runs] == [SlotStatus.SUCCEEDED]
    assert remaining(app) == 1
    record = RunLog(service.state, None).show(claim.run_id or "")
    assert str(record["startedAt"]).startswith("2024-10-10")
