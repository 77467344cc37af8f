"""Engine behaviour on the Census schema, on SQLite and PostgreSQL: holds, caps, breakers,
dry runs, plan files, failures, batching."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from lethe import PlanFileError, RunStatus, SafetyLimitError
from lethe.testing import ManualClock
from tests.support.apps import (
    NOW,
    as_utc,
    column_values,
    example_lethe,
    example_policy,
    keys,
    seeded,
)

POLICY = example_policy("census")


def _with(extra: str) -> str:
    return POLICY + "\n" + extra


def test_a_registry_hold_stops_every_phase_until_released(app_url: str, tmp_path: Path) -> None:
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        hold = lethe.holds.add("surveys", "1", "subject access request", "dpo")
        lethe.holds.add("surveys", "2", "audit", "dpo")
        result = lethe.run(as_of=NOW)
        assert [p.acted for p in result.phases] == [0, 1]  # only survey 7 goes
        assert column_values(engine, census.surveys, "id", "deleted_at")[1] is None
        assert 2 in keys(engine, census.surveys)

        lethe.holds.release(hold.id, "dpo", "request closed")
        assert [h.id for h in lethe.holds.list("surveys")] != [hold.id]
        history = lethe.holds.list("surveys", include_released=True)
        assert {h.id for h in history if not h.active} == {hold.id}
        assert lethe.run(as_of=NOW).phases[0].acted == 1


def test_max_deletions_caps_a_run_and_the_next_run_continues(app_url: str, tmp_path: Path) -> None:
    census, engine = seeded("census", app_url)
    policy = _with("[policies.data-governance.limits]\nmax_deletions = 2\n")
    with example_lethe("census", app_url, tmp_path, policy) as lethe:
        first = lethe.run(as_of=NOW)
        assert [p.acted for p in first.phases] == [1, 1]
        assert first.phases[1].capped == 1
        second = lethe.run(as_of=NOW)
        assert [p.acted for p in second.phases] == [0, 1]
        assert keys(engine, census.surveys) == {1, 3, 4, 5, 6}


def test_circuit_breaker_refuses_the_whole_run_before_any_change(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    policy = _with('[limits.breaker]\nmax_rows = 5\nmax_percent = 100\nmode = "or"\n')
    with example_lethe("census", app_url, tmp_path, policy) as lethe:
        with pytest.raises(SafetyLimitError, match="surveys_surveyresponse") as caught:
            lethe.run(as_of=NOW)
        assert caught.value.result.status is RunStatus.TRIPPED
        assert keys(engine, census.surveys) == set(range(1, 8))
        assert column_values(engine, census.surveys, "id", "deleted_at")[1] is None
        assert lethe.runs(1)[0]["status"] == "tripped"
        assert lethe.plan(as_of=NOW).errors  # the plan says the run would be refused


def test_breaker_with_and_ignores_a_small_table_but_trips_on_both(
    app_url: str, tmp_path: Path
) -> None:
    seeded("census", app_url)
    lenient = _with("[limits.breaker]\nmax_rows = 1\nmax_percent = 90\n")  # mode "and"
    with example_lethe("census", app_url, tmp_path, lenient) as lethe:
        assert lethe.run(as_of=NOW, dry_run=True).status is RunStatus.SUCCEEDED
    strict = _with("[limits.breaker]\nmax_rows = 1\nmax_percent = 10\n")
    with (
        example_lethe("census", app_url, tmp_path, strict) as lethe,
        pytest.raises(SafetyLimitError),
    ):
        lethe.run(as_of=NOW)


def test_dry_run_changes_nothing_and_reports_what_the_run_then_does(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        dry = lethe.run(as_of=NOW, dry_run=True)
        assert dry.dry_run and keys(engine, census.surveys) == set(range(1, 8))
        assert lethe.runtime.ledger.head()[0] == 0  # a dry run appends nothing
        real = lethe.run(as_of=NOW)
        assert [(p.acted, p.held, dict(p.cascade)) for p in dry.phases] == [
            (p.acted, p.held, dict(p.cascade)) for p in real.phases
        ]


def test_run_with_a_plan_acts_only_on_planned_items_still_due_and_reports_drift(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        plan_file = tmp_path / "plan.json"
        lethe.write_plan(lethe.plan(as_of=NOW), plan_file)
        # After planning: survey 2 goes on hold, survey 6 becomes due.
        lethe.holds.add("surveys", "2", "late hold", "dpo")
        with engine.begin() as conn:
            conn.execute(
                update(census.surveys)
                .where(census.surveys.c.id == 6)
                .values(deletion_date=NOW - timedelta(days=1))
            )
        result = lethe.run(plan=lethe.read_plan(plan_file), as_of=NOW)
        assert [p.acted for p in result.phases] == [1, 1]
        assert keys(engine, census.surveys) == {1, 2, 3, 4, 5, 6}
        assert column_values(engine, census.surveys, "id", "deleted_at")[6] is None
        assert result.drift["now_held"] == 1
        assert result.drift["newly_due_not_planned"] == 1


def test_a_tampered_or_foreign_plan_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    seeded("census", sqlite_url)
    with example_lethe("census", sqlite_url, tmp_path) as lethe:
        plan_file = tmp_path / "plan.json"
        lethe.write_plan(lethe.plan(as_of=NOW), plan_file)
        plan_file.write_text(plan_file.read_text().replace('"7"', '"6"'))
        with pytest.raises(PlanFileError, match="edited"):
            lethe.read_plan(plan_file)
    other = _with("[policies.data-governance.limits]\nmax_deletions = 3\n")
    with example_lethe("census", sqlite_url, tmp_path, other) as changed:
        good = tmp_path / "good.json"
        with example_lethe("census", sqlite_url, tmp_path) as lethe:
            lethe.write_plan(lethe.plan(as_of=NOW), good)
        with pytest.raises(PlanFileError, match="different version of the policy"):
            changed.run(plan=changed.read_plan(good))


def test_a_failing_hold_lookup_skips_the_items_and_degrades_the_run(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        lethe.plan(as_of=NOW)  # binds the dataset while the hold table exists
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE surveys_legalhold RENAME TO gone"))
        result = lethe.run(as_of=NOW)
        assert result.status is RunStatus.DEGRADED
        assert result.errors and "data-governance" in result.errors[0]
        assert keys(engine, census.surveys) == set(range(1, 8))
        assert column_values(engine, census.surveys, "id", "deleted_at")[1] is None


def test_batches_of_one_give_the_same_result_as_one_batch(app_url: str, tmp_path: Path) -> None:
    census, engine = seeded("census", app_url)
    policy = _with("[limits]\nbatch_size = 1\nbatch_seconds = 0\n")
    batches: list[int] = []
    with example_lethe("census", app_url, tmp_path, policy) as lethe:
        result = lethe.run(as_of=NOW, progress=lambda report: batches.append(report.acted))
        assert [p.acted for p in result.phases] == [1, 2]
        assert keys(engine, census.surveys) == {1, 3, 4, 5, 6}
        assert len(batches) >= 3 and max(batches) == 1


def test_a_row_locked_by_another_transaction_is_taken_in_the_final_pass(
    server_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", server_url)
    policy = _with("[limits]\nbatch_size = 1\n")
    locked = threading.Event()

    def hold_lock() -> None:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM surveys_survey WHERE id = 2 FOR UPDATE"))
            locked.set()
            time.sleep(1.5)

    locker = threading.Thread(target=hold_lock)
    locker.start()
    locked.wait(10)
    with example_lethe("census", server_url, tmp_path, policy) as lethe:
        result = lethe.run(as_of=NOW)
    locker.join()
    assert result.phases[1].acted == 2
    assert 2 not in keys(engine, census.surveys)


def test_soft_delete_marks_with_the_run_instant_and_purge_waits_out_the_grace(
    app_url: str, tmp_path: Path
) -> None:
    census, engine = seeded("census", app_url)
    clock = ManualClock(NOW)
    with example_lethe("census", app_url, tmp_path, clock=clock) as lethe:
        lethe.run()
        assert 1 in keys(engine, census.surveys)
        assert as_utc(column_values(engine, census.surveys, "id", "deleted_at")[1]) == NOW
        clock.advance(timedelta(days=30))  # exactly the grace: not yet
        lethe.run()
        assert 1 in keys(engine, census.surveys)
        clock.advance(timedelta(seconds=1))
        lethe.run()
        assert 1 not in keys(engine, census.surveys)


def test_explain_says_when_an_item_goes_and_what_blocks_it(app_url: str, tmp_path: Path) -> None:
    seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        later = lethe.explain("surveys", "6", as_of=NOW)
        soft = later.verdicts[0]
        assert not soft.selected_now
        assert soft.from_instant is not None
        assert abs(soft.from_instant - (NOW + timedelta(days=20))) < timedelta(seconds=1)
        held = lethe.explain("surveys", "3", as_of=NOW)
        assert held.held_by_table and held.verdicts[0].selected_now
        lethe.run(as_of=NOW)
        gone = lethe.explain("surveys", "2", as_of=NOW)
        assert not gone.exists
        assert [e["event"] for e in gone.history] == ["hard_deleted"]


def test_a_phase_guard_holds_back_another_phases_items_in_plan_and_run(
    app_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook the warning phase uses: one phase blocks another phase's items, with a reason."""
    from lethe.actions.soft_delete import SoftDelete

    def guard(self, other, keys, ctx):  # type: ignore[no-untyped-def]
        return {"7": "owner not warned yet"} if other.type == "purge" else {}

    monkeypatch.setattr(SoftDelete, "guard", guard)
    census, engine = seeded("census", app_url)
    with example_lethe("census", app_url, tmp_path) as lethe:
        plan = lethe.plan(as_of=NOW)
        assert plan.phases[1].keys == (2,) and dict(plan.phases[1].blocked) == {
            "7": "owner not warned yet"
        }
        result = lethe.run(as_of=NOW)
        assert (result.phases[1].acted, result.phases[1].blocked) == (1, 1)
        assert 7 in keys(engine, census.surveys)
        blocked = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "skipped_blocked"]
        assert [(e["item_key"], e["details"]["reason"]) for e in blocked] == [
            ("7", "owner not warned yet")
        ]
