"""The Validibot example's six jobs in Australia/Sydney: run by `lethe scheduler`, and by
`lethe serve` triggered with OIDC-signed requests as Cloud Scheduler sends them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lethe.config import load_file
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from lethe.schedule.decide import SlotStatus
from tests.support.apps import EXAMPLES, keys, seeded
from tests.support.oidc import AUDIENCE, EMAIL, Issuer
from tests.support.web import Recorder, http_server, uvicorn_server

REPO = Path(__file__).resolve().parents[1]
JOBS = [
    "clear-sessions",
    "cleanup-idempotency-keys",
    "cleanup-callback-receipts",
    "purge-expired-submissions",
    "process-purge-retries",
    "cleanup-stuck-runs",
]


def _example(tmp_path: Path) -> tuple[Path, str]:
    policy = tmp_path / "lethe.toml"
    shutil.copy(EXAMPLES / "validibot" / "lethe.toml", policy)
    url = f"sqlite:///{tmp_path / 'validibot.db'}"
    return policy, url


def _env(url: str, jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs") -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "LETHE_JWKS_URL": jwks_url,
        "LETHE_OIDC_AUDIENCE": AUDIENCE,
        "LETHE_SCHEDULER_SA": EMAIL,
    }


def _assert_housekeeping_done(url: str) -> None:
    validibot, engine = _app(url)
    assert keys(engine, validibot.sessions, "session_key") == {"s2", "s3"}
    assert keys(engine, validibot.idempotency_keys) == {3, 4}
    assert keys(engine, validibot.callback_receipts) == {3, 4}


def _app(url: str):  # type: ignore[no-untyped-def]
    from tests.support.apps import engine_for, example_module

    return example_module("validibot"), engine_for(url)


def test_the_six_jobs_declared_in_sydney_time(tmp_path: Path) -> None:
    policy, url = _example(tmp_path)
    config = load_file(policy, env=_env(url)).config
    assert [j.name for j in config.jobs] == JOBS
    assert {j.timezone for j in config.jobs} == {"Australia/Sydney"}
    assert config.serve.oidc is not None and config.serve.worker


def test_the_example_runs_under_lethe_scheduler(tmp_path: Path) -> None:
    policy, url = _example(tmp_path)
    seeded("validibot", url, datetime.now(UTC))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "lethe", "-c", str(policy), "scheduler"],
        cwd=REPO,
        env={**os.environ, **_env(url)},
        stderr=subprocess.PIPE,
    )
    service = JobService(load_file(policy, env=_env(url)))
    try:
        deadline = time.monotonic() + 120
        while not all(_succeeded(service, job) for job in JOBS):
            assert daemon.poll() is None, daemon.communicate()[1].decode()
            assert time.monotonic() < deadline, "not every job ran"
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
        service.close()
    assert daemon.returncode == 0, err.decode()
    _assert_housekeeping_done(url)


def _succeeded(service: JobService, job: str) -> bool:
    history = service.ledger.history(job, limit=5)
    return any(r.status is SlotStatus.SUCCEEDED for r in history)


@pytest.fixture
def jwks(tmp_path: Path) -> Iterator[tuple[Issuer, str]]:
    issuer, recorder = Issuer(), Recorder()
    recorder.document = issuer.jwks()
    with http_server(recorder) as base:
        yield issuer, f"{base}/certs"


def test_the_example_runs_under_lethe_serve_triggered_by_cloud_scheduler_oidc_tokens(
    tmp_path: Path, jwks: tuple[Issuer, str]
) -> None:
    issuer, jwks_url = jwks
    policy, url = _example(tmp_path)
    seeded("validibot", url, datetime.now(UTC))
    service = JobService(load_file(policy, env=_env(url, jwks_url)))
    with uvicorn_server(create_app(service)) as base:
        unsigned = httpx.post(f"{base}/jobs/clear-sessions/runs", timeout=30)
        assert unsigned.status_code == 401
        run_ids = {}
        for job in JOBS:
            token = issuer.token(alg="RS256")
            reply = httpx.post(
                f"{base}/jobs/{job}/runs", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert reply.status_code == 202, reply.text
            run_ids[job] = reply.json()["runId"]
        deadline = time.monotonic() + 120
        while not all(_succeeded(service, job) for job in JOBS):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        retried = httpx.post(
            f"{base}/jobs/clear-sessions/runs",
            headers={"Authorization": f"Bearer {issuer.token(alg='ES256')}"},
            timeout=30,
        )
        assert retried.status_code == 200 and retried.json()["status"] == "duplicate"
        assert retried.json()["runId"] == run_ids["clear-sessions"]
    _assert_housekeeping_done(url)
