"""Fixtures: a real PostgreSQL server for the session, a fresh database or SQLite file per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.apps import OPEN_ENGINES
from tests.support.backends import BACKENDS, Backend, make_backend
from tests.support.mail import Hook, Inbox, self_signed, smtp_server, webhook_server
from tests.support.mariadb import mariadb_server
from tests.support.postgres import postgres_server
from tests.support.servers import S3_ENV, moto_server, redis_server

_counter = itertools.count()

# The suite explores the same examples on every run, so CI is reproducible; set
# LETHE_HYPOTHESIS_RANDOM=1 to explore new ones.
settings.register_profile("reproducible", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("explore" if os.environ.get("LETHE_HYPOTHESIS_RANDOM") else "reproducible")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The ``postgres`` database of a server started for this test session."""
    with postgres_server() as url:
        yield url


@contextmanager
def _fresh_database(admin_url: str, *, force: bool) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards (``force``:
    PostgreSQL's ``WITH (FORCE)``, ending sessions a test left open)."""
    name = f"lethe_test_{next(_counter)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{' WITH (FORCE)' if force else ''}"))
        admin.dispose()


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with _fresh_database(pg_admin_url, force=True) as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_admin_url() -> Iterator[str]:
    """The ``root`` user of a MariaDB server started for this test session."""
    with mariadb_server() as url:
        yield url


@pytest.fixture
def mariadb_url(mariadb_admin_url: str) -> Iterator[str]:
    """A fresh, empty MariaDB database for one test."""
    with _fresh_database(mariadb_admin_url, force=False) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The application database, on SQLite, PostgreSQL and MariaDB in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each server with row locks and roles: PostgreSQL, then MariaDB."""
    return str(
        request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    )


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    while OPEN_ENGINES:
        OPEN_ENGINES.pop().dispose()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A plain SMTP server on loopback that accepts everything (see tests/support/mail)."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A webhook endpoint on loopback recording each JSON body."""
    with webhook_server() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for 127.0.0.1 and localhost."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, over HTTP on loopback, for the session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    """A Redis server on loopback for the session."""
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_session_url: str) -> str:
    """The session's Redis server, emptied for one test."""
    from redis import Redis

    with Redis.from_url(redis_session_url) as client:
        client.flushall()
    return redis_session_url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials for moto in the environment (where obstore and boto3 read them)."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(S3_ENV)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The ``items`` dataset on SQLite, a local directory, S3 (moto) and Redis in turn."""
    name = request.param
    s3 = redis = None
    if name == "s3":
        request.getfixturevalue("s3_env")
        s3 = request.getfixturevalue("s3_endpoint")
    if name == "redis":
        redis = request.getfixturevalue("redis_url")
    return make_backend(name, tmp_path, s3, redis)
