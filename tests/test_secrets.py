"""Passwords never appear in output, logs, run records or audit events."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lethe.cli.app import main
from tests.support.apps import EXAMPLES, NOW, seeded

PASSWORD = "S3cr3t-Passw0rd-xyz"


def test_a_database_password_never_leaves_lethe(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded("census", pg_url)
    # The test server trusts loopback, so the password is accepted and ignored: it is only bait.
    url = make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    (tmp_path / "lethe.toml").write_text((EXAMPLES / "census" / "lethe.toml").read_text())
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
    ]
    output = []
    for command in commands:
        assert main(command) == 0, command
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
    assert PASSWORD not in printed
    for record in (tmp_path / ".lethe" / "runs").glob("*.json"):
        assert PASSWORD not in record.read_text()
    with sqlite3.connect(tmp_path / ".lethe" / "state.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {table}"):
                assert PASSWORD not in repr(row), table


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
