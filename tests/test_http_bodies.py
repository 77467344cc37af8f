"""Trigger endpoints ignore a body, but refuse one that claims to be JSON and is not (422)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lethe.config import load_file
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from tests.support.jobs import make_items, write_policy
from tests.support.web import uvicorn_server

TOKEN = "static-token-for-body-tests-0123456789"
JOBS = '[[jobs]]\nname = "purge"\nschedule = "*/10 * * * *"\npolicies = ["purge-items"]\n'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 2)
    extra = f'[serve]\nbearer_tokens = ["{TOKEN}"]\n'
    service = JobService(load_file(write_policy(tmp_path, app, JOBS, extra=extra), env={}))
    with uvicorn_server(create_app(service)) as base:
        yield base


def _post(base: str, path: str, body: bytes, media: str, token: str = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": media}
    return httpx.post(f"{base}{path}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("path", ["/jobs/purge/runs", "/tick"])
def test_malformed_json_is_422_and_starts_nothing(server: str, path: str) -> None:
    reply = _post(server, path, b'{"manual": tru', "application/json")
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"].startswith("the request body is not valid JSON")
    jobs = httpx.get(f"{server}/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert jobs[0]["lastRun"] is None


def test_a_body_is_otherwise_ignored_and_credentials_come_first(server: str) -> None:
    assert (
        _post(server, "/jobs/purge/runs", b"garbage", "application/json", "wrong").status_code
        == 401
    )
    reply = _post(server, "/jobs/purge/runs", b"{}", "application/json")
    assert reply.status_code in (200, 202), reply.text
    reply = _post(server, "/jobs/purge/runs", b"not json at all", "application/octet-stream")
    assert reply.status_code in (200, 202), reply.text
