"""``lethe check``: each problem once, naming the file, and the exit codes plan and run use."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import census, run_cli

__all__ = ["census"]  # the fixture, imported


def test_each_missing_table_is_reported_once_with_the_file(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "lethe.toml"
    text = policy.read_text().replace('"surveys_survey"', '"survey"')
    other = """
[datasets.other]
table = "nope"
key = "id"
due_column = "due"

[policies.other]
dataset = "other"
actions = [{ type = "purge" }]
"""
    policy.write_text(text + other)
    code, out, _ = run_cli(capsys, "check")
    assert code == 2
    assert out.count("table 'survey' does not exist") == 1
    assert out.count("table 'nope' does not exist") == 1
    assert "lethe.toml: datasets.surveys: table 'survey'" in out
    assert "FAILED: 2 errors, 0 warnings" in out


def test_an_unreachable_store_exits_5_in_check_as_in_plan_and_run(
    census, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:Zq7-unreachable@127.0.0.1:1/app")
    for command in ("check", "plan", "run"):
        code, out, err = run_cli(capsys, command)
        assert code == 5, command
        assert "Zq7-unreachable" not in out + err
    code, out, _ = run_cli(capsys, "check")
    assert out.count("connection failed") == 1 and "FAILED: 1 error," in out


def test_a_missing_sqlite_file_is_said_to_be_missing_and_never_created(
    census, capsys, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "typo.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    for command in ("check", "plan", "run"):
        code, out, err = run_cli(capsys, command)
        assert code == 5, command
        assert f"the SQLite file {missing} does not exist" in out + err
        assert "table" not in out + err
    assert not missing.exists()
    assert (tmp_path / ".lethe" / "state.db").is_file()  # lethe's own state is created
