"""Time: a real run never acts ahead of the clock, and every record lethe writes — audit
events, deliveries, soft-delete markers — carries the clock's time, never ``--as-of``.
Tests simulate days with :class:`lethe.testing.ManualClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lethe import ConfigError, Lethe
from lethe.cli.app import main
from lethe.testing import ManualClock
from tests.support.apps import as_utc, column_values, example_lethe, example_policy, keys, seeded
from tests.support.mail import Inbox
from tests.support.warnings import census_with_warnings, deliveries

DAY = timedelta(days=1)


def test_a_real_run_refuses_an_as_of_later_than_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'census.db'}"
    census, engine = seeded("census", url, now=datetime.now(UTC))
    (tmp_path / "lethe.toml").write_text(example_policy("census"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    tomorrow = (datetime.now(UTC) + DAY).isoformat()
    assert main(["run", "--as-of", tomorrow]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is later than now" in err and "--dry-run" in err
    assert keys(engine, census.surveys) == set(range(1, 8))
    assert main(["runs"]) == 0 and "run-" not in capsys.readouterr().out  # nothing recorded
    assert main(["run", "--dry-run", "--as-of", tomorrow]) == 0  # previewing the future is fine
    assert main(["plan", "--as-of", tomorrow]) == 0
    clock = ManualClock(datetime.now(UTC))
    with Lethe.from_file("lethe.toml", clock=clock) as lethe:
        with pytest.raises(ConfigError, match="later than now"):
            lethe.run(as_of=clock.now() + timedelta(seconds=1))
        assert lethe.run(as_of=clock.now()).deleted == 3


def test_a_back_dated_run_stamps_events_and_markers_with_the_real_time(
    app_url: str, tmp_path: Path
) -> None:
    """A survey soft-deleted by a run back-dated 40 days is marked now, so the next normal
    run does not purge it at once (its 30-day grace counts from the real soft deletion)."""
    now = datetime.now(UTC).replace(microsecond=0)
    back = now - 40 * DAY
    census, engine = seeded("census", app_url, now=back)
    with example_lethe("census", app_url, tmp_path, clock=ManualClock(now)) as lethe:
        first = lethe.run(as_of=back)
        assert [p.acted for p in first.phases] == [1, 2]  # survey 1 soft, 2 and 7 hard
        assert as_utc(column_values(engine, census.surveys, "id", "deleted_at")[1]) == now
        stamps = {e["ts"] for e in lethe.runtime.ledger.iter_events()}
        assert stamps == {now.isoformat()}
        lethe.run()  # surveys due since then are soft-deleted; survey 1 waits out its grace
        assert 1 in keys(engine, census.surveys)


def test_a_notice_sent_by_a_back_dated_run_counts_from_when_it_really_left(
    sqlite_url: str, tmp_path: Path, inbox: Inbox
) -> None:
    """Survey 1 is overdue: its 1-day notice goes first. Sent by a run back-dated ten days,
    it was still delivered just now, so the normal run right after must not soft-delete."""
    now = datetime.now(UTC).replace(microsecond=0)
    census, engine = seeded("census", sqlite_url, now=now - 10 * DAY)
    clock = ManualClock(now)
    with census_with_warnings(sqlite_url, tmp_path, inbox.port, clock=clock) as lethe:
        lethe.run(["data-governance"], as_of=now - 10 * DAY)
        [row] = [r for r in deliveries(lethe) if r["item_key"] == "1"]
        assert as_utc(datetime.fromisoformat(str(row["delivered_at"]))) == now
        assert lethe.run(["data-governance"]).phases[1].acted == 0
        assert column_values(engine, census.surveys, "id", "deleted_at")[1] is None
        clock.advance(DAY + timedelta(seconds=1))  # a day after the notice really left
        assert lethe.run(["data-governance"]).phases[1].acted == 1


def test_a_manual_clock_simulates_the_grace_period(sqlite_url: str, tmp_path: Path) -> None:
    """The README's testing example: run, move the clock 30 days on, run again."""
    census, engine = seeded("census", sqlite_url, now=datetime(2024, 10, 1, tzinfo=UTC))
    clock = ManualClock(datetime(2024, 10, 1, tzinfo=UTC))
    with example_lethe("census", sqlite_url, tmp_path, clock=clock) as lethe:
        lethe.run()
        assert 1 in keys(engine, census.surveys)  # soft-deleted, within its grace
        clock.advance(timedelta(days=30, seconds=1))
        lethe.run()
        assert 1 not in keys(engine, census.surveys)
        assert lethe.runs(1)[0]["startedAt"] == clock.now().isoformat()
