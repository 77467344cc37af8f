"""`GET /approvals` and `POST /approvals/{run_id}` on a real uvicorn server: only an admin
credential (an admin token, an OIDC identity in admin_emails) reaches them; the approval is
the CLI's (the same checks, the same audited event, with via=http and who called)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, update

from lethe import Lethe, SafetyLimitError
from lethe.config import load_file
from lethe.errors import ConfigError
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from tests.support.jobs import items, make_items, remaining, write_policy
from tests.support.oidc import AUDIENCE, EMAIL, ISSUER, Issuer
from tests.support.web import Recorder, http_server, uvicorn_server

TOKEN = "static-token-for-tests-0123456789"
ADMIN_TOKEN = "admin-token-for-tests-9876543210"
ADMIN_EMAIL = "dpo@example.com"
JOBS = """
[[jobs]]
name = "purge"
schedule = "0 3 * * *"
policies = ["purge-items"]
"""
# Any removal trips the breaker: every triggered run is refused and records its plan.
BREAKER = """
[policies.purge-items.limits.breaker]
max_rows = 1
max_percent = 1
mode = "or"
"""


def _extra(jwks_url: str) -> str:
    return f"""
[serve]
bearer_tokens = ["{TOKEN}"]
admin_tokens = ["{ADMIN_TOKEN}"]
[serve.oidc]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
allowed_emails = ["{EMAIL}"]
admin_emails = ["{ADMIN_EMAIL}"]
jwks_url = "{jwks_url}"
"""


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def jwks_url(issuer: Issuer) -> Iterator[str]:
    recorder = Recorder()
    recorder.document = issuer.jwks()
    with http_server(recorder) as base:
        yield f"{base}/jwks.json"


@pytest.fixture
def served(tmp_path: Path, jwks_url: str) -> Iterator[tuple[str, Path]]:
    """The base URL of a server whose one policy's every run is refused, and its policy."""
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 5)
    policy = write_policy(tmp_path, app, JOBS, extra=BREAKER + _extra(jwks_url))
    with uvicorn_server(create_app(JobService(load_file(policy, env={})))) as base:
        yield base, policy


def _as(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _refused_runs(base: str) -> list[str]:
    """Trigger the job and wait: the breaker refuses it (and the scheduled slot it then
    catches up on); the runs' ids, the manual one first."""
    reply = httpx.post(
        f"{base}/jobs/purge/runs?manual=true&wait=true", headers=_as(TOKEN), timeout=60
    )
    assert reply.status_code == 200, reply.text
    assert {r["status"] for r in reply.json()["runs"]} == {"failed"}
    return [r["runId"] for r in reply.json()["runs"]]


def _approve(base: str, run_id: str, token: str | None, **body: Any) -> httpx.Response:
    return httpx.post(f"{base}/approvals/{run_id}", json=body, headers=_as(token), timeout=60)


def test_only_an_admin_lists_and_approves_and_the_audit_names_the_caller(
    served: tuple[str, Path], issuer: Issuer
) -> None:
    base, policy = served
    runs = _refused_runs(base)
    run_id = runs[0]
    record = httpx.get(f"{base}/runs/{run_id}", headers=_as(TOKEN)).json()
    assert record["status"] == "tripped"
    assert (
        f"lethe approve {run_id} --by NAME --reason TEXT, then lethe run --approved {run_id}"
        in record["limitTripped"]
    )

    operator = issuer.token()  # allowed to trigger, not an admin
    admin = issuer.token(email=ADMIN_EMAIL)
    assert httpx.get(f"{base}/approvals").status_code == 401
    for token in (TOKEN, operator):
        listed = httpx.get(f"{base}/approvals", headers=_as(token))
        assert listed.status_code == 403, listed.text
        assert "admin_tokens" in listed.json()["detail"]
        refused = _approve(base, run_id, token, reason="trying")
        assert refused.status_code == 403 and "not an admin" in refused.json()["detail"]
    assert _approve(base, run_id, None, reason="anonymous").status_code == 401
    unverified = issuer.token(email=ADMIN_EMAIL, email_verified=False)
    assert httpx.get(f"{base}/approvals", headers=_as(unverified)).status_code == 403

    for token in (ADMIN_TOKEN, admin):
        listed = httpx.get(f"{base}/approvals", headers=_as(token))
        assert listed.status_code == 200, listed.text
        assert sorted((a["runId"], a["status"]) for a in listed.json()) == sorted(
            (r, "pending") for r in runs
        )
    assert _approve(base, "run-nope", admin, reason="r").status_code == 404
    assert _approve(base, run_id, admin).status_code == 422  # no reason
    assert _approve(base, run_id, admin, reason="r", extra="x").status_code == 422

    granted = _approve(base, run_id, admin, reason="backlog reviewed")
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "approved"
    assert granted.json()["approvedBy"] == ADMIN_EMAIL  # by defaults to the identity
    again = _approve(base, run_id, ADMIN_TOKEN, by="someone", reason="again")
    assert again.status_code == 409 and "already approved by" in again.json()["detail"]

    with Lethe(load_file(policy, env={})) as lethe:
        events = list(lethe.runtime.ledger.iter_events(kinds=["approval_granted"]))
        assert len(events) == 1
        details = events[0]["details"]
        details = json.loads(details) if isinstance(details, str) else details
        assert details["via"] == "http" and details["identity"] == f"oidc:{ADMIN_EMAIL}"
        assert details["by"] == ADMIN_EMAIL and details["reason"] == "backlog reviewed"
        assert lethe.run(approved=run_id).deleted == 5
        assert lethe.verify_audit().ok
    listed = httpx.get(f"{base}/approvals", headers=_as(ADMIN_TOKEN)).json()
    assert {a["runId"]: a["status"] for a in listed}[run_id] == "used"


def test_a_given_name_is_recorded_beside_the_token_and_a_changed_plan_is_409(
    served: tuple[str, Path],
) -> None:
    base, policy = served
    run_id = _refused_runs(base)[0]
    app = f"sqlite:///{policy.parent / 'app.db'}"
    engine = create_engine(app)
    with engine.begin() as conn:  # item 3 is no longer due
        later = datetime.now(UTC) + timedelta(days=30)
        conn.execute(update(items).where(items.c.id == 3).values(due_at=later))
    engine.dispose()
    changed = _approve(base, run_id, ADMIN_TOKEN, by="Jo DPO", reason="reviewed")
    assert changed.status_code == 409, changed.text
    assert "1 of 5 planned items changed" in changed.json()["detail"]
    assert "no longer due (items 3)" in changed.json()["detail"]
    assert remaining(app) == 5

    with Lethe(load_file(policy, env={})) as lethe, pytest.raises(SafetyLimitError) as caught:
        lethe.run()  # a fresh plan, without item 3 (a second manual trigger this minute is
        # the same slot's duplicate)
    fresh = caught.value.result.run_id
    granted = _approve(base, fresh, ADMIN_TOKEN, by="Jo DPO", reason="reviewed")
    assert granted.status_code == 200, granted.text
    with Lethe(load_file(policy, env={})) as lethe:
        (event,) = lethe.runtime.ledger.iter_events(kinds=["approval_granted"])
        details = event["details"]
        details = json.loads(details) if isinstance(details, str) else details
        assert details["by"] == "Jo DPO" and details["identity"] == "token:admin token #1"
        assert ADMIN_TOKEN not in json.dumps(event)


def test_admin_tokens_are_checked_like_bearer_tokens(tmp_path: Path) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    for extra, message in (
        ('[serve]\nadmin_tokens = ["short"]\n', "at least 16 characters"),
        (f'[serve]\nbearer_tokens = ["{TOKEN}"]\nadmin_tokens = ["{TOKEN}"]\n', "give it once"),
        (
            f'[serve]\nallow_unauthenticated = true\nadmin_tokens = ["{ADMIN_TOKEN}"]\n',
            "contradicts",
        ),
    ):
        with pytest.raises(ConfigError, match=message):
            load_file(write_policy(tmp_path, app, JOBS, extra=extra), env={})
