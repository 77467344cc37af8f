"""lethe's endpoints inside the Django service: the project's ASGI application with lethe
mounted under /lethe (lethe.contrib.django.http.with_lethe), served by uvicorn on loopback and
compared with ``lethe serve`` on the same policy and state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.django_app.shop import POLICY, Shop, lethe_serve_argv, serving, uvicorn_argv

TOKEN = "shop-trigger-token-0123456789abcdef"
SERVED = (
    POLICY
    + f"""
[serve]
bearer_tokens = ["{TOKEN}"]

[[jobs]]
name = "nightly"
schedule = "0 2 * * *"
policies = ["closed-accounts"]
"""
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def both(
    tmp_path_factory: pytest.TempPathFactory, shop_template: Path
) -> Iterator[tuple[str, str]]:
    """(the Django service's base URL for lethe, ``lethe serve``'s), one policy, one state;
    shared by the tests that only read."""
    shop = Shop.sqlite(tmp_path_factory.mktemp("served"), shop_template)
    shop.seed()
    shop.policy(SERVED.format(state="sqlite:///state.db", store=shop.url))
    with (
        serving(shop, uvicorn_argv(), "/lethe/healthz") as django,
        serving(shop, lethe_serve_argv("lethe.toml"), "/healthz") as plain,
    ):
        yield django + "/lethe", plain


REQUESTS = [
    ("GET", "/healthz", {}),
    ("GET", "/jobs", {}),
    ("GET", "/jobs", {"Authorization": "Bearer wrong-token-0123456789abcdef"}),
    ("GET", "/jobs", AUTH),
    ("GET", "/runs/run-nope", AUTH),
    ("POST", "/jobs/nosuch/runs", AUTH),
    ("POST", "/tick", {}),
    ("GET", "/health", {}),
]


def test_the_mounted_endpoints_answer_as_lethe_serve_does(both: tuple[str, str]) -> None:
    django, plain = both
    for method, path, headers in REQUESTS:
        mounted = httpx.request(method, django + path, headers=headers, timeout=30)
        served = httpx.request(method, plain + path, headers=headers, timeout=30)
        assert mounted.status_code == served.status_code, (method, path, mounted.text)
        assert mounted.headers.get("WWW-Authenticate") == served.headers.get("WWW-Authenticate")
        if path != "/health":  # its checked-at instants differ
            assert mounted.json() == served.json(), (method, path)
    assert httpx.get(django + "/jobs").status_code == 401


def test_metrics_and_openapi_are_served_under_the_prefix(both: tuple[str, str]) -> None:
    django, plain = both
    metrics = httpx.get(django + "/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert {line.split(" ")[0] for line in metrics.text.splitlines() if line.startswith("#")} == {
        line.split(" ")[0]
        for line in httpx.get(plain + "/metrics").text.splitlines()
        if line.startswith("#")
    }
    spec = httpx.get(django + "/openapi.json").json()
    assert "/jobs/{name}/runs" in spec["paths"]
    assert spec.get("servers") == [{"url": "/lethe"}]  # root_path: links resolve under /lethe


def test_django_keeps_every_other_path(both: tuple[str, str]) -> None:
    django, _ = both
    site = django.removesuffix("/lethe")
    login = httpx.get(site + "/admin/login/")
    assert login.status_code == 200 and "Django" in login.text
    assert httpx.get(site + "/lethe-not-mounted").status_code == 404
    assert httpx.get(site + "/lethe-not-mounted").headers["content-type"].startswith("text/html")


def test_a_trigger_inside_the_django_service_runs_the_job(shop: Shop) -> None:
    shop.seed()
    shop.policy(SERVED.format(state="sqlite:///state.db", store="django://default"))
    with serving(shop, uvicorn_argv(), "/lethe/healthz") as base:
        refused = httpx.post(base + "/lethe/jobs/nightly/runs?manual=true&wait=true")
        assert refused.status_code == 401
        assert len(shop.rows("shop_customer")) == 3
        reply = httpx.post(
            base + "/lethe/jobs/nightly/runs?manual=true&wait=true", headers=AUTH, timeout=60
        )
        assert reply.status_code == 200, reply.text
        run = httpx.get(base + f"/lethe/runs/{reply.json()['runId']}", headers=AUTH).json()
    assert run["status"] == "succeeded"
    # no --as-of over HTTP: today, every customer closed in 2024 is past its 30 days
    assert shop.rows("shop_customer", "id") == [(3,)]


def test_without_authentication_the_project_refuses_to_start(shop: Shop) -> None:
    shop.policy(POLICY.format(state="sqlite:///state.db", store="django://default"))
    result = shop.script("import shopsite.asgi")
    assert result.code != 0
    assert "no authentication configured" in result.err
