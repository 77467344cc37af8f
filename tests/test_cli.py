"""The command line: output, JSON, and the documented exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.apps import keys
from tests.support.cli import AS_OF, census, run_cli

_run = run_cli
__all__ = ["census"]  # the fixture, imported


def test_check_passes_on_a_good_setup(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert "OK: 0 errors" in out


def test_run_prints_the_seed_style_summary_and_exits_0(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "run", *AS_OF)
    assert code == 0
    assert "Soft deleted: 1 surveys" in out
    assert "Hard deleted: 2 surveys (with 1 surveys_legalhold, 6 surveys_surveyresponse)" in out
    assert "Skipped, under hold: 1 surveys" in out
    assert "3 items were deleted" in out


def test_dry_run_json_is_a_run_record(census, capsys) -> None:  # type: ignore[no-untyped-def]
    module, engine = census
    code, out, _ = _run(capsys, "run", "--dry-run", "--json", *AS_OF)
    record = json.loads(out)
    assert code == 0 and record["dryRun"] is True
    assert record["counts"]["surveys_survey"] == {"soft_delete": 1, "purge": 2}
    assert keys(engine, module.surveys) == set(range(1, 8))


def test_plan_out_then_run_plan(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "plan", "--out", "plan.json", *AS_OF)
    assert code == 0 and "lethe run --plan plan.json" in out
    assert json.loads((tmp_path / "plan.json").read_text())["version"] == 1
    code, out, _ = _run(capsys, "run", "--plan", "plan.json", *AS_OF)
    assert code == 0 and "Drift since the plan" in out


def test_a_bad_file_exits_2_with_one_line(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (tmp_path / "lethe.toml").read_text().replace('grace = "30d"', 'grace = "30 dayz"')
    (tmp_path / "lethe.toml").write_text(text)
    for command in (["check"], ["plan"], ["run"]):
        code, _, err = _run(capsys, *command)
        assert code == 2
        assert err.strip().count("\n") == 0
        assert "lethe.toml: policies.data-governance.actions[1].grace: unknown unit" in err


def test_an_unknown_column_fails_check_and_run_and_touches_nothing(census, capsys, tmp_path):  # type: ignore[no-untyped-def]
    module, engine = census
    text = (
        (tmp_path / "lethe.toml").read_text().replace('column = "deleted_at"', 'column = "removed"')
    )
    (tmp_path / "lethe.toml").write_text(text)
    code, out, _ = _run(capsys, "check")
    assert code == 2 and "has no column 'removed'" in out
    code, _, err = _run(capsys, "run", *AS_OF)
    assert code == 2
    assert (
        "policies.data-governance.actions[0]: table 'surveys_survey' has no column 'removed'" in err
    )
    assert keys(engine, module.surveys) == set(range(1, 8))


def test_an_unknown_table_fails_check_and_run(census, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (tmp_path / "lethe.toml").read_text().replace('"surveys_survey"', '"survey"')
    (tmp_path / "lethe.toml").write_text(text)
    code, out, _ = _run(capsys, "check")
    assert code == 2 and "table 'survey' does not exist" in out
    code, _, err = _run(capsys, "run")
    assert code == 2 and "lethe.toml: datasets.surveys: table 'survey' does not exist" in err


def test_breaker_trip_exits_3(census, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with (tmp_path / "lethe.toml").open("a") as f:
        f.write('\n[limits.breaker]\nmax_rows = 1\nmax_percent = 1\nmode = "or"\n')
    code, out, _ = _run(capsys, "run", *AS_OF)
    assert code == 3 and "Refused by a safety limit; nothing was changed" in out


def test_tampered_audit_exits_4(census, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "run", *AS_OF)[0] == 0
    assert _run(capsys, "audit", "verify")[0] == 0
    with sqlite3.connect(tmp_path / ".lethe" / "state.db") as db:
        db.execute("UPDATE lethe_events SET item_key = 'x' WHERE seq = 1")
    code, out, _ = _run(capsys, "audit", "verify")
    assert code == 4 and "event 1 was altered" in out


def test_unreachable_store_exits_5_without_the_password(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2secret@127.0.0.1:1/app")
    code, _, err = _run(capsys, "run")
    assert code == 5
    assert "hunter2secret" not in err and "app:***@127.0.0.1" in err


def test_unknown_run_and_hold_exit_6(census, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "runs", "show", "run-nope")[0] == 6
    assert _run(capsys, "hold", "release", "42")[0] == 6


def test_holds_and_runs_commands(census, capsys) -> None:  # type: ignore[no-untyped-def]
    module, engine = census
    code, out, _ = _run(
        capsys, "hold", "add", "surveys", "1", "--reason", "litigation", "--by", "dpo"
    )
    assert code == 0 and "Hold #1 placed on surveys 1" in out
    assert _run(capsys, "hold", "add", "surveys", "abc", "--reason", "x")[0] == 2
    assert _run(capsys, "hold", "add", "nosuch", "1", "--reason", "x")[0] == 2
    code, out, _ = _run(capsys, "hold", "list", "--json")
    assert [h["key"] for h in json.loads(out)] == ["1"]
    _run(capsys, "run", *AS_OF)
    assert 1 in keys(engine, module.surveys)
    code, out, _ = _run(capsys, "explain", "surveys", "1", *AS_OF)
    assert "held by hold #1 (litigation" in out
    assert _run(capsys, "hold", "release", "1", "--by", "dpo")[0] == 0
    code, out, _ = _run(capsys, "hold", "list", "--all")
    assert "released" not in out or "dpo" in out
    code, out, _ = _run(capsys, "runs", "--json")
    runs = json.loads(out)
    assert runs[0]["status"] == "succeeded"
    code, out, _ = _run(capsys, "runs", "show", runs[0]["runId"][:22], "--json")
    assert json.loads(out)["runId"] == runs[0]["runId"]


def test_explain_shows_when_and_why(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "explain", "surveys", "6", *AS_OF)
    assert code == 0
    assert "soft_delete: due from 2024-11-15 02:00:00 UTC" in out
    assert "needs: deletion_date <= 2024-10-26 02:00:00 UTC" in out


def test_grants_for_sqlite_say_there_are_no_roles(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "check", "--grants")
    assert code == 0 and "no roles" in out


def test_usage_errors_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "run", "--no-such-flag")[0] == 2
    assert _run(capsys, "-c", "/nonexistent/lethe.toml", "plan")[0] == 2


def test_help_and_version(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "lethe demo" in out
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out.startswith("lethe ")


def test_schema_and_demo(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "schema")
    assert code == 0 and json.loads(out)["title"].startswith("lethe policy file")
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(capsys, "demo", "--dir", str(tmp_path / "demo"))
    assert code == 0
    assert "Soft deleted: 1 surveys" in out and "Hard deleted: 3 survey_progress" in out
    assert "Audit chain verifies" in out
    assert (tmp_path / "demo" / "lethe.toml").exists()
