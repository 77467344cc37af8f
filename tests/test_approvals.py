"""Approvals on the Census schema, with lethe's state on SQLite and on PostgreSQL: a run the
circuit breaker refuses leaves its exact plan pending; approving it is audited, once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lethe import SafetyLimitError
from lethe.errors import ConfigError, NotFoundError
from lethe.model.keys import key_text
from lethe.model.plan import Plan
from lethe.state.approvals import ApprovalStatus
from tests.support.apps import NOW, example_lethe, example_policy, seeded

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


def test_a_tripped_run_leaves_its_exact_plan_pending_and_approval_is_audited_once(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    app, state = urls
    seeded("census", app)
    with example_lethe("census", app, tmp_path, _policy(state)) as lethe:
        with pytest.raises(SafetyLimitError) as caught:
            lethe.run(as_of=NOW)
        run_id = caught.value.result.run_id
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
        with pytest.raises(SafetyLimitError) as caught:
            lethe.run(as_of=NOW)
        run_id = caught.value.result.run_id
        lethe.clock.set(NOW + WINDOW + timedelta(seconds=1))  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match="older than the approval window"):
            lethe.runtime.approvals.approve(run_id, "dpo", "late", WINDOW)
        assert lethe.runtime.approvals.get(run_id).status is ApprovalStatus.PENDING
