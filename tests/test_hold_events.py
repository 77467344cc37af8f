"""A hold stops an item once in the audit: one ``skipped_hold`` event per hold, item and phase,
however many runs meet it, so the ledger does not grow with held items × runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lethe import Lethe
from tests.support.apps import NOW, example_lethe, run_at, seeded


def _skips(lethe: Lethe) -> list[tuple[str, int, str]]:
    return [
        (e["item_key"], e["phase"], e["details"]["hold"])
        for e in lethe.runtime.ledger.iter_events()
        if e["event"] == "skipped_hold"
    ]


def test_runs_after_the_first_record_no_new_hold_skip(app_url: str, tmp_path: Path) -> None:
    seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        first = lethe.run(as_of=NOW)
        recorded = _skips(lethe)
        assert sorted(recorded) == [("3", 0, "hold_table"), ("4", 1, "hold_table")]
        events = lethe.verify_audit().events
        for days in (0, 1, 2):
            again = run_at(lethe, NOW + timedelta(days=days))
            assert [p.held for p in again.phases] == [p.held for p in first.phases]  # counted
        assert _skips(lethe) == recorded
        assert lethe.verify_audit().events == events + 3  # each run's run_finished only


def test_a_new_hold_on_an_item_is_recorded_once_again(app_url: str, tmp_path: Path) -> None:
    seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        hold = lethe.holds.add("surveys", "1", "litigation", "dpo")
        lethe.run(as_of=NOW)
        lethe.run(as_of=NOW)
        assert ("1", 0, f"registry:{hold.id}") in _skips(lethe)
        assert sum(1 for key, *_ in _skips(lethe) if key == "1") == 1
        lethe.holds.release(hold.id, "dpo")
        second = lethe.holds.add("surveys", "1", "a second matter", "dpo")
        lethe.run(as_of=NOW)
        lethe.run(as_of=NOW)
        ones = [hold for key, _, hold in _skips(lethe) if key == "1"]
        assert ones == [f"registry:{hold.id}", f"registry:{second.id}"]
