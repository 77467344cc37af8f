"""Approvals on the Census schema, with lethe's state on SQLite and on PostgreSQL: a run the
circuit breaker refuses leaves its exact plan pending; approving it is audited, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lethe import Lethe, SafetyLimitError
from lethe.cli.app import main
from lethe.engine.decisions import first_run_verdict
from lethe.errors import ApprovalStateError, ConfigError, NotFoundError, PlanChangedError
from lethe.model.keys import key_text
from lethe.model.plan import Plan
from lethe.model.results import RunStatus
from lethe.state.approvals import ApprovalStatus
from tests.support.apps import NOW, column_values, example_lethe, example_policy, keys, seeded

BREAKER = '[limits.breaker]\nmax_rows = 1\nmax_percent = 1\nmode = "or"\n'
WINDOW = timedelta(days=7)


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(application, state) URLs: both SQLite files, or both one PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}", f"sqlite:///{tmp_path / 'state.db'}"
    url = str(request.getfixturevalue("pg_url"))
    return url, url


def _policy(state_url: str) -> str:
    return example_policy("census") + "\n" + BREAKER + f'\n[state]\nurl = "{state_url}"\n'


def _tripped(lethe: Lethe) -> str:
    """The run the breaker refuses (its plan is left pending), by id."""
    with pytest.raises(SafetyLimitError) as caught:
        lethe.run(as_of=NOW)
    return caught.value.result.run_id


def test_a_tripped_run_leaves_its_exact_plan_pending_and_approval_is_audited_once(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        run_id = _tripped(lethe)
        log = lethe.runtime.approvals
        pending = log.get(run_id)
        assert pending.status is ApprovalStatus.PENDING
        plan = Plan.from_document(pending.plan)
        assert pending.plan_hash == pending.plan["hash"]
        expected = lethe.plan(as_of=NOW)
        assert [sorted(p.keys) for p in plan.phases] == [
            sorted(key_text(k) for k in p.keys) for p in expected.phases
        ]
        assert pending.counts["data-governance"]["items"] == sum(
            len(p.keys) for p in expected.phases if p.destructive
        )

        with pytest.raises(NotFoundError):
            log.approve("run-nope", "dpo", "reviewed", WINDOW)
        with pytest.raises(ConfigError, match="reason"):
            log.approve(run_id, "dpo", " ", WINDOW)
        approved = log.approve(run_id, "dpo", "backlog reviewed", WINDOW)
        assert approved.status is ApprovalStatus.APPROVED
        assert approved.approved_by == "dpo"
        with pytest.raises(ConfigError, match="already approved by dpo"):
            log.approve(run_id, "dpo", "again", WINDOW)
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "approval_granted"]
        assert len(events) == 1
        assert events[0]["run_id"] == run_id
        assert lethe.verify_audit().ok


def test_an_approval_past_its_window_cannot_be_approved(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        run_id = _tripped(lethe)
        lethe.clock.set(NOW + WINDOW + timedelta(seconds=1))  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match="older than the approval window"):
            lethe.runtime.approvals.approve(run_id, "dpo", "late", WINDOW)
        assert lethe.runtime.approvals.get(run_id).status is ApprovalStatus.PENDING


def test_the_approval_window_is_the_policy_files(tmp_path: Path) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", app)
    policy = (
        _policy(f"sqlite:///{tmp_path / 'state.db'}") + '\n[evidence]\napproval_window = "1h"\n'
    )
    with example_lethe("census", app, tmp_path, policy) as lethe:
        assert lethe.approval_window == timedelta(hours=1)
        run_id = _tripped(lethe)
        lethe.clock.set(NOW + timedelta(minutes=61))  # type: ignore[attr-defined]
        with pytest.raises(ApprovalStateError, match=r"older than the approval window \(1 h\)"):
            lethe.approve(run_id, "dpo", "late")
        listed = lethe.approvals()[0].to_document(lethe.runtime.state.now(), lethe.approval_window)
        assert listed["status"] == "expired"
    for bad in ('"1mo"', '"0s"'):
        with pytest.raises(ConfigError, match="approval_window"):
            example_lethe("census", app, tmp_path, policy.replace('"1h"', bad))


def test_the_approved_plan_runs_once_exactly_and_newly_due_rows_are_left(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    census, engine = seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        run_id = _tripped(lethe)
        with pytest.raises(ConfigError, match="pending"):
            lethe.run(approved=run_id)  # not approved yet: refused, nothing used
        with pytest.raises(SafetyLimitError):
            lethe.run(as_of=NOW)  # an unapproved plan lets nothing through
        lethe.runtime.approvals.approve(run_id, "dpo", "backlog reviewed", WINDOW)
        with engine.begin() as conn:  # due after the approval: not in the approved plan
            conn.execute(
                census.surveys.update()
                .where(census.surveys.c.id == 6)
                .values(deletion_date=NOW - timedelta(days=1))
            )
        before = keys(engine, census.surveys)
        result = lethe.run(approved=run_id)
        assert [p.acted for p in result.phases] == [1, 2]  # soft delete 1; purge 2 and 7
        assert before - keys(engine, census.surveys) == {2, 7}
        soft = column_values(engine, census.surveys, "id", "deleted_at")
        assert soft[1] is not None and soft[6] is None  # 6 became due since: left alone
        assert "6" in {key_text(k) for k in lethe.plan().phases[0].keys}  # and is due
        used = lethe.runtime.approvals.get(run_id)
        assert used.status is ApprovalStatus.USED and used.used_by == result.run_id
        with pytest.raises(ConfigError, match="already used"):
            lethe.run(approved=run_id)
        assert lethe.verify_audit().ok


def test_the_cli_approves_lists_and_runs_with_its_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    census, engine = seeded("census", app)
    config = tmp_path / "lethe.toml"
    config.write_text(_policy(f"sqlite:///{tmp_path / 'state.db'}"))
    monkeypatch.setenv("DATABASE_URL", app)
    base = ["--config", str(config)]
    assert main([*base, "run"]) == 3
    said = capsys.readouterr().out
    listed = _listed(capsys, base)
    assert [a["status"] for a in listed] == ["pending"]
    run_id = listed[0]["runId"]
    # The refusal says how to go on with exactly this plan, on screen and in the run record.
    steps = f"lethe approve {run_id} --by NAME --reason TEXT, then lethe run --approved {run_id}"
    assert steps in " ".join(said.split())
    assert main([*base, "runs", "show", run_id, "--json"]) == 0
    assert steps in json.loads(capsys.readouterr().out)["limitTripped"]
    assert main([*base, "approve", "run-unknown", "--by", "dpo", "--reason", "r"]) == 6
    assert main([*base, "run", "--approved", run_id]) == 2
    survey = census.surveys.update().where(census.surveys.c.id == 1)
    with engine.begin() as conn:  # no longer due: the plan is not what would run
        conn.execute(survey.values(deletion_date=datetime.now(UTC) + timedelta(days=10)))
    capsys.readouterr()
    assert main([*base, "approve", run_id, "--by", "dpo", "--reason", "reviewed"]) == 13
    err = capsys.readouterr().err.strip()
    assert "1 no longer due (surveys 1)" in err and "\n" not in err and "Traceback" not in err
    with engine.begin() as conn:
        conn.execute(survey.values(deletion_date=NOW - timedelta(days=3)))
    assert main([*base, "approve", run_id, "--by", "dpo", "--reason", "reviewed"]) == 0
    capsys.readouterr()
    assert main([*base, "audit", "events", "--event", "approval_granted", "--format", "jsonl"]) == 0
    (granted,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert granted["run_id"] == run_id and granted["details"]["via"] == "cli"
    assert granted["details"]["by"] == "dpo" and granted["details"]["reason"] == "reviewed"
    assert main([*base, "approve", run_id, "--by", "dpo", "--reason", "again"]) == 2
    assert main([*base, "run", "--approved", run_id]) == 0
    assert main([*base, "run", "--approved", run_id]) == 2
    listed = _listed(capsys, base)
    assert listed[0]["status"] == "used" and listed[0]["approvedBy"] == "dpo"


def _listed(capsys: pytest.CaptureFixture[str], base: list[str]) -> list[dict[str, Any]]:
    capsys.readouterr()  # what earlier commands printed
    assert main([*base, "approvals", "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return listed


def test_approval_is_refused_when_planned_items_stopped_being_due_or_are_held_now(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    census, engine = seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        run_id = _tripped(lethe)
        with engine.begin() as conn:  # survey 1 (to be soft-deleted) is no longer due
            conn.execute(
                census.surveys.update()
                .where(census.surveys.c.id == 1)
                .values(deletion_date=NOW + timedelta(days=10))
            )
        hold = lethe.holds.add("surveys", "2", "litigation", "legal")  # 2 (to be purged)
        with pytest.raises(PlanChangedError) as refused:
            lethe.approve(run_id, "dpo", "reviewed")
        assert str(refused.value) == (
            f"run {run_id} cannot be approved: 2 of 3 planned items changed since the plan: "
            "1 no longer due (surveys 1), 1 now held (surveys 2); run again for a fresh plan "
            "to approve"
        )
        assert lethe.runtime.approvals.get(run_id).status is ApprovalStatus.PENDING
        assert not list(lethe.runtime.ledger.iter_events(kinds=["approval_granted"]))
        lethe.holds.release(hold.id, "legal")
        with pytest.raises(PlanChangedError, match=r"1 of 3 .* 1 no longer due \(surveys 1\);"):
            lethe.approve(run_id, "dpo", "reviewed")


def test_items_that_stop_being_due_or_become_held_after_the_approval_are_not_deleted(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    census, engine = seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        run_id = _tripped(lethe)
        lethe.approve(run_id, "dpo", "backlog reviewed")
        with engine.begin() as conn:  # survey 2: soft-deleted a day ago, inside its grace now
            conn.execute(
                census.surveys.update()
                .where(census.surveys.c.id == 2)
                .values(deleted_at=NOW - timedelta(days=1))
            )
        lethe.holds.add("surveys", "7", "litigation", "legal")
        result = lethe.run(approved=run_id)
        assert {2, 7} <= keys(engine, census.surveys)  # neither purged
        assert [p.acted for p in result.phases] == [1, 0]  # survey 1 soft-deleted all the same
        assert result.drift["no_longer_due"] == 1 and result.drift["now_held"] == 1
        assert lethe.verify_audit().ok


FIRST_RUN = "[limits.breaker]\nfirst_run_max_rows = 1\n"


def test_a_first_run_over_its_budget_waits_for_an_approval_and_later_runs_do_not(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    census, engine = seeded("census", app)
    policy = example_policy("census") + "\n" + FIRST_RUN + f'\n[state]\nurl = "{state}"\n'
    with example_lethe("census", app, tmp_path, policy) as lethe:
        # The usual thresholds (10,000 rows and 50 %) would let it through; the budget does not.
        with pytest.raises(SafetyLimitError) as dry:
            lethe.run(dry_run=True, as_of=NOW)
        assert str(dry.value) == (
            "policy data-governance: would remove 3 rows from surveys_survey in the policy's "
            "first run, over the circuit breaker's first_run_max_rows 1 (no real run of it has "
            "completed yet)"
        )
        for _ in range(2):  # a dry or refused run is no completed run
            with pytest.raises(SafetyLimitError, match="first_run_max_rows 1") as caught:
                lethe.run(as_of=NOW)
        run_id = caught.value.result.run_id
        assert lethe.runtime.approvals.get(run_id).status is ApprovalStatus.PENDING
        assert keys(engine, census.surveys) == set(range(1, 8))
        lethe.approve(run_id, "dpo", "the backlog of a newly adopted policy, reviewed")
        assert lethe.run(approved=run_id).status is RunStatus.SUCCEEDED
        with engine.begin() as conn:  # survey 5 leaves its grace: purged with 3 responses
            conn.execute(
                census.surveys.update()
                .where(census.surveys.c.id == 5)
                .values(deleted_at=NOW - timedelta(days=35))
            )
        later = lethe.run(as_of=NOW)  # no longer the first run: over the budget, not refused
        assert later.status is RunStatus.SUCCEEDED and later.limit_tripped is None
        assert 5 not in keys(engine, census.surveys)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 50), max_size=5),
    st.integers(0, 50),
)
def test_the_first_run_budget_refuses_exactly_when_one_table_is_over_it(
    rows: dict[str, int], limit: int
) -> None:
    verdict = first_run_verdict(rows, limit)
    assert (verdict is None) == all(count <= limit for count in rows.values())
    if verdict:
        table = min(t for t, count in rows.items() if count > limit)
        assert f"would remove {rows[table]} rows from {table} " in verdict
