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
    assert not (tmp_path / ".lethe").exists()  # nor lethe's own state, for a failing file


def test_check_and_a_failing_file_create_no_state(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "check")
    assert code == 0 and "not created yet" in out
    assert not (tmp_path / ".lethe").exists()  # check changes nothing
    policy = tmp_path / "lethe.toml"
    policy.write_text(policy.read_text().replace('"surveys_survey"', '"survey"'))
    for command in ("check", "plan", "run", "explain surveys 1"):
        assert run_cli(capsys, *command.split())[0] == 2, command
    assert not (tmp_path / ".lethe").exists()
    policy.write_text(policy.read_text().replace('"survey"', '"surveys_survey"'))
    assert run_cli(capsys, "plan")[0] == 0
    code, out, _ = run_cli(capsys, "check")
    assert code == 0 and "reachable, schema up to date" in out


def _schedule(folder: Path, expression: str) -> None:
    """Give the Census job another schedule."""
    policy = folder / "lethe.toml"
    policy.write_text(policy.read_text().replace('"0 2 * * *"', f'"{expression}"'))


def test_check_warns_about_a_surprising_schedule(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _schedule(tmp_path, "*/40 * * * *")
    code, out, _ = run_cli(capsys, "check")
    # The other warning: auth_user, a table no dataset covers (records of processing).
    assert code == 0 and "OK: 0 errors, 2 warnings" in out
    assert "lethe.toml: jobs[0].schedule: '*/40' in the minute field does not divide 60" in out


def test_an_out_of_range_schedule_is_refused_as_such(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _schedule(tmp_path, "* * 0 * *")
    code, _, err = run_cli(capsys, "check")
    assert code == 2 and "day-of-month field '0': 0 is out of range (1-31)" in err
    assert "no such date" not in err
