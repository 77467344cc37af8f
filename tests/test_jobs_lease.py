"""A slot runs once even when its run is slow to start: the slot's lease is renewed from the
claim on, and every batch first checks the slot's fence (real time, a two-second lease)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from lethe.config import Settings
from lethe.config.durations import Duration
from lethe.engine import run as engine_run
from lethe.jobs.claims import ClaimStatus
from lethe.jobs.runner import JobRun, JobService
from lethe.schedule.decide import SlotStatus
from lethe.state.schema import slots
from tests.support.jobs import clear_of_slot_boundary, make_items, remaining, settings_for

JOB = """
[[jobs]]
name = "sweep"
schedule = "0 * * * *"
policies = ["purge-items"]
retries = 2
backoff = "1s"
"""
LEASE = 2.0  # seconds: below the configurable 10 s minimum, so the test takes seconds


def _settings(tmp_path: Path, lease: float = LEASE) -> tuple[Settings, str]:
    clear_of_slot_boundary(60, timedelta(seconds=30))  # both triggers see the same slot
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 20)
    settings = settings_for(tmp_path, app, JOB, batch_size=5)
    scheduler = settings.config.scheduler.model_copy(update={"lease": Duration(seconds=int(lease))})
    return replace(
        settings, config=settings.config.model_copy(update={"scheduler": scheduler})
    ), app


def _slow_recovery(
    monkeypatch: pytest.MonkeyPatch, entered: threading.Event, seconds: float
) -> None:
    """The run's recovery (after the store was opened, before its run row exists) takes
    ``seconds``, as with an application database dropping packets."""
    original = engine_run.recover

    def slow(rt, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        time.sleep(seconds)
        return original(rt, **kwargs)

    monkeypatch.setattr(engine_run, "recover", slow)


def _succeeded_runs(service: JobService) -> int:
    with service.state.read() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM lethe_runs WHERE status = 'succeeded'")
            ).scalar_one()
        )


def test_a_slow_start_keeps_its_slot_and_a_second_trigger_does_not_run_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, app = _settings(tmp_path)
    first, second = JobService(settings), JobService(settings)
    entered = threading.Event()
    _slow_recovery(monkeypatch, entered, 3 * LEASE)
    done: list[list[JobRun]] = []
    runner = threading.Thread(target=lambda: done.append(first.fire("sweep", trigger="a")[1]))
    runner.start()
    assert entered.wait(30)
    time.sleep(1.5 * LEASE)  # the claim's own lease has run out by now
    claim = second.claim("sweep", trigger="b")  # a second trigger, which reaps dead slots
    assert claim.status is ClaimStatus.DUPLICATE, claim
    runner.join(60)
    [[run]] = done
    assert run.status is SlotStatus.SUCCEEDED and run.recorded
    assert remaining(app) == 0
    assert _succeeded_runs(first) == 1
    first.close()
    second.close()


def test_a_runner_whose_slot_was_taken_stops_before_its_first_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the slot was lost (a process frozen past its lease, then reaped), the runner
    checks the fence before its first batch: it deletes nothing and its outcome is refused.
    (A one-minute lease: its heartbeat, every 15 s, would notice too late.)"""
    settings, app = _settings(tmp_path, lease=60)
    service = JobService(settings)
    entered = threading.Event()
    _slow_recovery(monkeypatch, entered, 0.5)
    claim = service.claim("sweep", trigger="a")
    assert claim.row is not None

    def reaped() -> None:
        assert entered.wait(30)
        with service.state.write() as conn:  # what another trigger's reap does to the slot
            conn.execute(
                update(slots)
                .where(slots.c.id == claim.row.id)  # type: ignore[union-attr]
                .values(status=SlotStatus.FAILED.value, fence=slots.c.fence + 1)
            )

    reaper = threading.Thread(target=reaped)
    reaper.start()
    run = service.execute(claim)
    reaper.join()
    assert not run.recorded
    assert remaining(app) == 20
    assert run.result is not None and run.result.status.value == "interrupted"
    assert "taken over by another runner" in run.result.errors[0]
    service.close()
