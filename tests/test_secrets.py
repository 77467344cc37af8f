"""Passwords never appear in output, logs, run records or audit events."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lethe.cli.app import main
from tests.support.apps import NOW, example_policy, seeded
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
