"""How the command line reads: human instants and durations, help without type placeholders
on flags, ISO 8601 only in machine documents."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lethe.jobs.runner import JobService
from lethe.jobs.status import job_statuses
from lethe.model.text import duration, stamp
from lethe.schedule.clock import ManualClock
from tests.support.cli import census, run_cli
from tests.support.jobs import at, make_items, settings_for

__all__ = ["census"]  # the fixture, imported

_RAW = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?\+00:00")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.1234, "0.12 s"),
        (42, "42 s"),
        (900, "15 min"),
        (930, "15 min 30 s"),
        (3900, "1 h 5 min"),
        (2 * 86400, "2 d"),
        (90061, "1 d 1 h"),
    ],
)
def test_durations_read_in_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text and duration(timedelta(seconds=seconds)) == text


def test_instants_read_to_the_second_in_utc() -> None:
    moment = datetime(2026, 12, 2, 0, 52, 19, 507384, tzinfo=UTC)
    assert stamp(moment) == stamp(moment.isoformat()) == "2026-12-02 00:52:19 UTC"


@pytest.mark.parametrize("command", ["run", "plan", "check", "runs", "hold list", "demo", "tick"])
def test_help_shows_no_type_placeholder_on_flags(command: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run_cli(capsys, *command.split(), "--help")
    assert code == 0 and "--help" in out
    assert "<bool>" not in out and "<list[str]>" not in out and "<str>" not in out


def test_tick_names_its_slot_in_a_human_instant(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, first, _ = run_cli(capsys, "tick")  # catch_up (48 h) always holds a daily slot
    assert code == 0 and "started slot" in first
    code, second, _ = run_cli(capsys, "tick")
    assert code == 0 and "is already succeeded" in second
    assert not _RAW.search(first + second), first + second
    assert re.search(r"slot \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", second)


def test_a_job_overdue_says_its_alert_window_as_a_duration(tmp_path: Path) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 1)
    jobs = '[[jobs]]\nname = "often"\nschedule = "*/5 * * * *"\npolicies = ["purge-items"]\n'
    clock = ManualClock(at("2024-10-01T16:00:00+00:00"))
    service = JobService(settings_for(tmp_path, app, jobs), clock=clock)
    try:
        service.set_paused("often", True, "ops")  # the ledger now knows the job
        service.set_paused("often", False, "ops")
        clock.advance(timedelta(hours=1))
        (status,) = job_statuses(service.config.jobs, service.ledger, clock.now())
    finally:
        service.close()
    assert status.problems == ["job often: no successful run ever (alert_after 15 min)"]
