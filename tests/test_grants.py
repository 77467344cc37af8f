"""`lethe check --grants` prints exactly enough: every example runs under a role holding only
those grants, and a role without them is refused by PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lethe import RunStatus
from tests.support.apps import NOW, example_lethe, example_policy, seeded
from tests.support.mail import Inbox
from tests.support.warnings import mail_env


def _role_url(pg_url: str, role: str) -> str:
    return make_url(pg_url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.mark.parametrize("name", ["census", "checktick", "therapy", "validibot"])
def test_each_example_runs_under_its_least_privilege_role(
    pg_url: str, tmp_path: Path, inbox: Inbox, name: str
) -> None:
    seeded(name, pg_url)
    policy = example_policy(name, warnings=True)  # the owner's email is read through auth_user
    env = mail_env(inbox.port)
    with example_lethe(name, pg_url, tmp_path / "owner", policy, env=env) as owner:
        statements = owner.grants("lethe_runner")["app"]
    if name in ("census", "checktick"):
        assert "GRANT SELECT (email, id) ON auth_user TO lethe_runner;" in statements
    assert statements and all(s.startswith("GRANT ") for s in statements)
    assert not any("ALL" in s or " ON ALL " in s for s in statements)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP ROLE IF EXISTS lethe_runner"))
        conn.execute(text("CREATE ROLE lethe_runner LOGIN"))
        for statement in statements:
            conn.execute(text(statement))
    try:
        runner = _role_url(pg_url, "lethe_runner")
        with example_lethe(name, runner, tmp_path / "runner", policy, env=env) as lethe:
            assert lethe.check().ok
            dry = lethe.run(as_of=NOW, dry_run=True)
            result = lethe.run(as_of=NOW)
            assert result.status is RunStatus.SUCCEEDED, result.errors
            assert [p.acted for p in result.phases] == [p.acted for p in dry.phases]
            assert sum(p.acted for p in result.phases) > 0
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP OWNED BY lethe_runner"))
            conn.execute(text("DROP ROLE lethe_runner"))
        admin.dispose()


def test_a_role_missing_one_grant_is_refused_and_no_row_is_lost(
    pg_url: str, tmp_path: Path
) -> None:
    _census, engine = seeded("census", pg_url)
    with example_lethe("census", pg_url, tmp_path / "owner") as owner:
        statements = [
            s
            for s in owner.grants("lethe_runner")["app"]
            if "DELETE ON surveys_surveyresponse" not in s
        ]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP ROLE IF EXISTS lethe_runner"))
        conn.execute(text("CREATE ROLE lethe_runner LOGIN"))
        for statement in statements:
            conn.execute(text(statement))
    try:
        with example_lethe("census", _role_url(pg_url, "lethe_runner"), tmp_path / "r") as lethe:
            result = lethe.run(as_of=NOW)
        assert result.status is RunStatus.DEGRADED
        assert any("permission denied" in e for e in result.errors)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM surveys_survey")).scalar_one() == 7
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP OWNED BY lethe_runner"))
            conn.execute(text("DROP ROLE lethe_runner"))
        admin.dispose()
