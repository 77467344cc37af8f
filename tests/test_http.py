"""`lethe serve` against a real uvicorn server on loopback, with a JWKS served locally: every
way a credential can be wrong is refused, triggers are exactly-once and always 2xx, the status
endpoints answer, and schemathesis finds no 5xx anywhere in the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from lethe.config import load_file
from lethe.errors import ConfigError
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from lethe.schedule.clock import ManualClock
from tests.support.jobs import make_items, remaining, write_policy
from tests.support.oidc import AUDIENCE, EMAIL, ISSUER, Issuer
from tests.support.web import Recorder, http_server, uvicorn_server

TOKEN = "static-token-for-tests-0123456789"
JOBS = """
[[jobs]]
name = "purge"
schedule = "*/10 * * * *"
timezone = "Australia/Sydney"
policies = ["purge-items"]
"""


def _serve_config(jwks_url: str, worker: bool = True) -> str:
    return f"""
[serve]
worker = {str(worker).lower()}
bearer_tokens = ["{TOKEN}", ""]
[serve.oidc]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
allowed_emails = ["{EMAIL}"]
jwks_url = "{jwks_url}"
"""


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def jwks(issuer: Issuer) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    recorder.document = issuer.jwks()
    with http_server(recorder) as base:
        yield f"{base}/jwks.json", recorder


def _service(directory: Path, jwks_url: str, worker: bool = True, clock=None) -> JobService:  # type: ignore[no-untyped-def]
    app = f"sqlite:///{directory / 'app.db'}"
    make_items(app, 5)
    policy = write_policy(directory, app, JOBS, extra=_serve_config(jwks_url, worker))
    return JobService(load_file(policy, env={}), clock=clock)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, jwks: tuple[str, Recorder]) -> Iterator[str]:
    service = _service(tmp_path_factory.mktemp("serve"), jwks[0])
    with uvicorn_server(create_app(service)) as base:
        yield base


def _header(token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    return {"Authorization": token if token.startswith("Basic ") else f"Bearer {token}"}


def _post(base: str, token: str | None, path: str = "/jobs/purge/runs") -> httpx.Response:
    return httpx.post(f"{base}{path}", headers=_header(token), timeout=30)


def _refusals(issuer: Issuer) -> list[tuple[str, str | None, int]]:
    now = int(time.time())
    return [
        ("no credentials", None, 401),
        ("another scheme", "Basic dXNlcjpwYXNzd29yZA==", 401),
        ("wrong static token", "not-the-token-at-all-0123456789", 401),
        ("alg none", issuer.unsigned_token(), 401),
        ("HS256 signed with the RSA public key", issuer.hs256_with_public_key(), 401),
        ("expired", issuer.token(iat=now - 3600, exp=now - 600), 401),
        ("not yet valid", issuer.token(nbf=now + 600), 401),
        ("wrong audience", issuer.token(aud="https://someone-else.run.app"), 401),
        ("wrong issuer", issuer.token(iss="https://evil.example"), 401),
        ("unknown key id", issuer.unpublished_token(), 401),
        ("EC key id on an RS256 token", issuer.token(kid="ec-1"), 401),
        ("no expiry", issuer.token(exp=None), 401),
        ("garbage", "a.b.c", 401),
        ("email not allowed", issuer.token(email="intruder@example.com"), 403),
        ("email not verified", issuer.token(email_verified=False), 403),
    ]


def test_every_bad_credential_is_refused(server: str, issuer: Issuer) -> None:
    for case, token, status in _refusals(issuer):
        reply = _post(server, token)
        assert reply.status_code == status, f"{case}: {reply.status_code} {reply.text}"
        if status == 401:
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert httpx.get(
            f"{server}/jobs", headers={"Authorization": f"Bearer {token}"}
        ).status_code in (
            401,
            403,
        )


def test_unknown_key_ids_do_not_make_lethe_hammer_the_issuer(
    server: str, issuer: Issuer, jwks: tuple[str, Recorder]
) -> None:
    before = len(jwks[1].requests)
    for _ in range(5):
        assert _post(server, issuer.unpublished_token()).status_code == 401
    assert len(jwks[1].requests) - before <= 1


def test_valid_tokens_trigger_exactly_once_and_retries_answer_2xx(
    server: str, issuer: Issuer
) -> None:
    first = _post(server, issuer.token(alg="RS256"))
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "started" and first.json()["runId"].startswith("run-")
    again = _post(server, issuer.token(alg="ES256"))  # Cloud Scheduler retrying the same slot
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate" and again.json()["runId"] == first.json()["runId"]
    by_token = _post(server, TOKEN)
    assert by_token.status_code == 200 and by_token.json()["status"] == "duplicate"
    run_id = first.json()["runId"]
    record = _wait_for_run(server, run_id)
    assert record["status"] == "succeeded" and record["slot"]["status"] == "succeeded"
    assert httpx.get(f"{server}/runs/run-nope", headers=_auth()).status_code == 404
    jobs = httpx.get(f"{server}/jobs", headers=_auth()).json()
    assert jobs[0]["name"] == "purge" and jobs[0]["lastRun"]["runId"] == run_id


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _wait_for_run(base: str, run_id: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        record = httpx.get(f"{base}/runs/{run_id}", headers=_auth()).json()
        if record.get("status") not in (None, "running") and record.get("slot", {}).get(
            "status"
        ) not in ("claimed", "running"):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.05)


def test_a_manual_trigger_waits_for_its_run_when_asked(
    tmp_path: Path, jwks: tuple[str, Recorder]
) -> None:
    # Its own state: on the module's shared server a manual trigger lands in a minute another
    # test's tick or background run may hold (a manual slot is its minute), and is then rightly
    # answered "duplicate" or "skipped", with no run to wait for.
    with uvicorn_server(create_app(_service(tmp_path, jwks[0]))) as base:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        reply = httpx.post(
            f"{base}/jobs/purge/runs?manual=true&wait=true", headers=_auth(), timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["runs"][0]["status"] == "succeeded"
        again = httpx.post(f"{base}/jobs/purge/runs?manual=true", headers=_auth(), timeout=60)
        if datetime.now(UTC).replace(second=0, microsecond=0) == minute:
            assert again.json()["status"] == "duplicate"  # at most one manual slot a minute
        assert httpx.post(f"{base}/jobs/nope/runs", headers=_auth()).status_code == 404


def test_health_metrics_and_openapi_are_served(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    health = httpx.get(f"{server}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = httpx.get(f"{server}/metrics").text
    assert 'lethe_job_slots{job="purge",status="succeeded"}' in metrics
    assert "lethe_job_last_success_timestamp_seconds" in metrics
    assert "lethe_job_missed_slots_total" in metrics
    openapi = httpx.get(f"{server}/openapi.json").json()
    assert {"/jobs/{name}/runs", "/tick", "/jobs", "/runs/{run_id}", "/health"} <= set(
        openapi["paths"]
    )


def test_health_answers_503_with_reasons_when_a_job_has_not_succeeded_in_its_window(
    tmp_path: Path, jwks: tuple[str, Recorder]
) -> None:
    clock = ManualClock(datetime.now(UTC))
    service = _service(tmp_path, jwks[0], clock=clock)
    with uvicorn_server(create_app(service)) as base:
        assert httpx.post(f"{base}/tick?wait=true", headers=_auth(), timeout=60).status_code == 200
        assert httpx.get(f"{base}/health").status_code == 200
        clock.advance(timedelta(hours=1))  # every 10 minutes; alert after 25 minutes
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503
        assert "no successful run since" in health.json()["problems"][0]
        assert 'lethe_job_healthy{job="purge"} 0.0' in httpx.get(f"{base}/metrics").text


def test_health_and_metrics_count_overdue_items_until_a_run(
    tmp_path: Path, jwks: tuple[str, Recorder]
) -> None:
    app = create_app(_service(tmp_path, jwks[0]))
    app.state.metrics.overdue.refresh = 0  # recount at every request
    with uvicorn_server(app) as base:
        # Five items long due, a job every 10 minutes (tolerance 20 minutes), no run yet.
        assert httpx.get(f"{base}/health").json()["overdue_items"] == 5
        gauge = 'lethe_overdue_items{dataset="items",policy="purge-items"}'
        assert f"{gauge} 5.0" in httpx.get(f"{base}/metrics").text
        assert httpx.post(f"{base}/tick?wait=true", headers=_auth(), timeout=60).status_code == 200
        assert httpx.get(f"{base}/health").json()["overdue_items"] == 0
        assert f"{gauge} 0.0" in httpx.get(f"{base}/metrics").text


def test_trigger_endpoints_are_404_on_a_non_worker_instance(
    tmp_path: Path, jwks: tuple[str, Recorder], issuer: Issuer
) -> None:
    service = _service(tmp_path, jwks[0], worker=False)
    with uvicorn_server(create_app(service)) as base:
        assert _post(base, issuer.token()).status_code == 404
        assert _post(base, TOKEN, "/tick").status_code == 404
        assert httpx.get(f"{base}/jobs", headers=_auth()).status_code == 200
    assert remaining(f"sqlite:///{tmp_path / 'app.db'}") == 5


def test_serve_refuses_to_start_without_authentication(tmp_path: Path) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    policy = write_policy(tmp_path, app, JOBS)
    with pytest.raises(ConfigError, match="no authentication configured"):
        create_app(JobService(load_file(policy, env={})))


def test_schemathesis_finds_no_server_error(server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    cases = schema.as_strategy(headers=_auth()) | schema.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=cases)
    def no_5xx(case: schemathesis.Case) -> None:
        response = case.call(base_url=server, timeout=30)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

    no_5xx()
