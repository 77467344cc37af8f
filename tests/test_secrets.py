"""Passwords never appear in output, logs, run records or audit events."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lethe.cli.app import main, show_warning
from lethe.secrets import redact_url, register_url, scrub
from tests.support.apps import NOW, engine_for, example_policy, seeded
from tests.support.backends import S3Backend
from tests.support.jobs import make_items
from tests.support.mail import smtp_server
from tests.support.warnings import mail_env

PASSWORD = "S3cr3t-Passw0rd-xyz"
MAIL_PASSWORD = "M41l-Passw0rd-abc"


def test_database_and_mail_passwords_never_leave_lethe(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    certificate: tuple[Path, Path],
) -> None:
    seeded("census", pg_url)
    # The test server trusts loopback, so the password is accepted and ignored: it is only bait.
    url = make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    policy = example_policy("census", warnings=True).replace(
        'sender = { type = "smtp" }',
        f'sender = {{ type = "smtp", security = "starttls", ca_file = "{certificate[0]}" }}',
    )
    (tmp_path / "lethe.toml").write_text(policy)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    as_of = ["--as-of", NOW.isoformat()]
    commands = [
        ["check"],
        ["check", "--grants"],
        ["plan", "-v"],
        ["run", "--dry-run", "-v"],
        ["run", "--json", *as_of],
        ["runs"],
        ["explain", "surveys", "1"],
        ["audit", "verify"],
        ["notify", "test", "dpo@example.org"],
    ]
    output = []
    with smtp_server(credentials=("lethe", MAIL_PASSWORD), starttls=certificate) as inbox:
        for name, value in {**mail_env(inbox.port), "EMAIL_HOST_USER": "lethe"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("EMAIL_HOST_PASSWORD", MAIL_PASSWORD)
        for command in commands:
            assert main(command) == 0, command
            output.append(capsys.readouterr())
        assert len(inbox.received()) == 3  # two warnings and the test message
        monkeypatch.setenv("EMAIL_HOST_PASSWORD", MAIL_PASSWORD + "-wrong")
        assert main(["notify", "test", "dpo@example.org"]) == 10
        output.append(capsys.readouterr())
    run_id = json.loads(output[4].out)["runId"]
    assert main(["runs", "show", run_id]) == 0
    output.append(capsys.readouterr())
    # A failure message quotes the URL: still masked.
    monkeypatch.setenv("DATABASE_URL", url.replace(str(make_url(url).port), "1"))
    assert main(["run"]) == 5
    output.append(capsys.readouterr())

    printed = "".join(o.out + o.err for o in output)
    assert "***@" in printed  # the URL is shown, masked
    assert PASSWORD not in printed and MAIL_PASSWORD not in printed
    for record in (tmp_path / ".lethe" / "runs").glob("*.json"):
        assert PASSWORD not in record.read_text() and MAIL_PASSWORD not in record.read_text()
    with sqlite3.connect(tmp_path / ".lethe" / "state.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {table}"):
                assert PASSWORD not in repr(row), table
                assert MAIL_PASSWORD not in repr(row), table


def test_secret_environment_values_are_masked_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lethe.toml").write_text(
        '[stores.app]\nurl = "postgresql://app:${DB_PASSWORD}@127.0.0.1:1/app"\n'
        '[datasets.d]\ntable = "t"\nkey = "id"\ndue_column = "due"\n'
        '[policies.p]\ndataset = "d"\n[[policies.p.actions]]\ntype = "purge"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    assert main(["plan"]) == 5
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err


# -- credentials in URL query strings, in every kind of store ----------------------------------

PLANTED = {
    "userinfo": "Pl4nted-userinfo-pw",
    "query": "Pl4nted-query-pw",
    "ssl": "Pl4nted-sslpassword",
    "state": "Pl4nted-state-pw",
    "s3": "Pl4nted-s3-secret-key",
    "redis": "Pl4nted-redis-pw",
    "wrong": "Pl4nted-wrong-redis-pw",
}

QUERY_POLICY = """
[state]
url = "${STATE_URL}"
runs_dir = "runs"
[limits.breaker]
enabled = false
[stores.app]
url = "${DATABASE_URL}"
[stores.blobs]
url = "${BLOB_URL}"
[stores.cache]
url = "${REDIS_URL}"

[datasets.items]
store = "app"
table = "items"
key = "id"
due_column = "due_at"
[datasets.uploads]
store = "blobs"
prefixes = "uploads/"
age_column = "metadata.created-at"
retain = "24h"
[datasets.jobs]
store = "cache"
pattern = "job:*"
age_column = "createdAt"
retain = "24h"

[policies.items]
dataset = "items"
[[policies.items.actions]]
type = "purge"
[policies.uploads]
dataset = "uploads"
[[policies.uploads.actions]]
type = "purge"
[policies.jobs]
dataset = "jobs"
[[policies.jobs.actions]]
type = "purge"
"""


def _planted_urls(pg_url: str, s3_endpoint: str, redis_url: str) -> dict[str, str]:
    """Every store's URL carrying credentials in its userinfo and its query string."""
    app = make_url(pg_url).set(password=PLANTED["userinfo"]).render_as_string(False)
    s3 = S3Backend(s3_endpoint)
    s3.seed({"uploads/old.csv": NOW - timedelta(days=3)})
    redis_host = make_url(redis_url)
    with Redis.from_url(redis_url) as admin:
        admin.execute_command(
            "ACL", "SETUSER", "planted", "on", f">{PLANTED['redis']}", "~*", "+@all"
        )
        admin.hset("job:1", mapping={"createdAt": (NOW - timedelta(days=3)).isoformat()})
    return {
        "DATABASE_URL": f"{app}?password={PLANTED['query']}&sslpassword={PLANTED['ssl']}",
        "STATE_URL": f"{pg_url}?application_name=lethe&password={PLANTED['state']}",
        "BLOB_URL": f"{s3.url}&aws_secret_access_key={PLANTED['s3']}",
        "REDIS_URL": (
            f"redis://planted@{redis_host.host}:{redis_host.port}/0?password={PLANTED['redis']}"
        ),
    }


def test_credentials_in_url_query_strings_never_leave_lethe(
    pg_url: str,
    s3_endpoint: str,
    s3_env: dict[str, str],
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Passwords, SSL passwords and keys given as ``?password=``-style query parameters, in
    the application database's, the state database's, the bucket's and Redis's URLs, appear in
    no output, log line, error, plan file, run record or state table — in a good run, a run
    that fails on a refused credential, and a store that cannot be reached."""
    make_items(pg_url, 3)
    urls = _planted_urls(pg_url, s3_endpoint, redis_url)
    (tmp_path / "lethe.toml").write_text(QUERY_POLICY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name, value in urls.items():
        monkeypatch.setenv(name, value)
    output = []
    for command in (
        ["check"],
        ["check", "--grants"],
        ["plan", "-v", "--out", "plan.json"],
        ["run", "--dry-run", "-v"],
        ["explain", "items", "1"],
        ["run", "--json"],
        ["runs"],
        ["audit", "verify"],
        ["health"],
    ):
        assert main(command) == 0, command
        output.append(capsys.readouterr())
    run_id = json.loads(output[5].out)["runId"]
    assert main(["runs", "show", run_id]) == 0
    output.append(capsys.readouterr())
    assert main(["explain", "items", "1"]) == 6  # deleted by the run: its history only
    output.append(capsys.readouterr())
    # Redis refuses a wrong password during the run: the run's record quotes the URL.
    monkeypatch.setenv("REDIS_URL", urls["REDIS_URL"].replace(PLANTED["redis"], PLANTED["wrong"]))
    assert main(["run"]) == 1
    output.append(capsys.readouterr())
    # The application database cannot be reached: the error quotes its URL.
    unreachable = urls["DATABASE_URL"].replace(f":{make_url(pg_url).port}/", ":1/")
    monkeypatch.setenv("DATABASE_URL", unreachable)
    assert main(["plan"]) == 5
    output.append(capsys.readouterr())

    printed = "".join(o.out + o.err for o in output)
    assert "?password=***): invalid username-password pair" in printed
    texts = {"output": printed, "plan.json": (tmp_path / "plan.json").read_text()}
    for record in (tmp_path / "runs").glob("*.json"):
        texts[record.name] = record.read_text()
    engine = engine_for(pg_url)
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'lethe%'")
        ).scalars()
        for table in list(tables):
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            # Not repr(rows): SQLAlchemy's Row repr truncates long values.
            texts[table] = json.dumps([tuple(row) for row in rows], default=str)
    assert "lethe_runs" in texts and len(texts) > 4
    assert any("password=***): invalid" in texts[r] for r in texts if r.endswith(".json"))
    assert "password=***): invalid" in texts["lethe_runs"]
    for where, content in texts.items():
        for kind, secret in PLANTED.items():
            assert secret not in content, f"{kind} secret in {where}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?password=hunter22", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u@h/db?sslmode=require&SSLPassword=k3y-pass",
            "postgresql://u@h/db?sslmode=require&SSLPassword=***",
        ),
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://:hunter22@h:6379/0?Token=t0k3n-x", "redis://:***@h:6379/0?Token=***"),
        (
            "s3://b?endpoint=http://h:9000&aws_secret_access_key=sk-123&access_key_id=AKIA1",
            "s3://b?endpoint=http://h:9000&aws_secret_access_key=***&access_key_id=***",
        ),
        (
            "https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=rl&sig=AbC%2Bd3f",
            "https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=rl&sig=***",
        ),
        ("az://c?sas_token=sv%3D2022", "az://c?sas_token=***"),
        (
            "https://h/x?X-Amz-Signature=deadbeef&X-Amz-Date=1",
            "https://h/x?X-Amz-Signature=***&X-Amz-Date=1",
        ),
        (
            "mysql://u@h/db?charset=utf8mb4&api_key=abcd1234",
            "mysql://u@h/db?charset=utf8mb4&api_key=***",
        ),
        # References are not secrets (deploy artifacts hold them), and safe options stay.
        ("postgresql://u:${DB_PASSWORD}@h/db?password=${PW}", None),
        ("postgresql://h:5432/db?sslmode=verify-full&application_name=lethe", None),
    ],
)
def test_url_credentials_are_masked_wherever_a_url_carries_them(
    url: str, shown: str | None
) -> None:
    assert redact_url(url) == (shown or url)
    assert redact_url(f"store app ({url}): refused") == f"store app ({shown or url}): refused"
    assert redact_url(shown or url) == (shown or url)  # masking twice changes nothing


def test_registered_query_credentials_are_masked_in_any_text() -> None:
    register_url("postgresql://u@h/db?password=qu3ry%40pass&sslpassword=s3c+r3t+sp4ce")
    assert scrub("driver: password 'qu3ry@pass' refused") == "driver: password '***' refused"
    assert scrub("echoed s3c r3t sp4ce") == "echoed ***"


def test_library_warnings_print_one_masked_line(capsys: pytest.CaptureFixture[str]) -> None:
    register_url("sqlite:///app.db?password=w4rned-secret")
    show_warning("ignored\n argument 'password=w4rned-secret'", UserWarning, "x.py", 1)
    assert capsys.readouterr().err == "lethe: warning: ignored argument 'password=***'\n"
