"""What the README promises on the command line: explain's exit 6 and ISO 8601 JSON, prefix
holds on text keys only, a tick that says why it ran nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported


def test_explain_of_an_unknown_key_exits_6(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "explain", "surveys", "999", *AS_OF)
    assert code == 6 and "not found in the store" in out
    assert run_cli(capsys, "explain", "surveys", "999", "--json", *AS_OF)[0] == 6
    assert run_cli(capsys, "explain", "surveys", "6", *AS_OF)[0] == 0


def test_explain_json_writes_instants_in_iso_8601(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "explain", "surveys", "6", "--json", *AS_OF)
    document = json.loads(out)
    soft_delete = document["verdicts"][0]
    assert code == 0 and soft_delete["action"] == "soft_delete"
    assert soft_delete["from_instant"] == "2024-11-15T02:00:00+00:00"
    # A naive SQLite timestamp is read as UTC, and written so.
    assert document["row"]["deletion_date"] == "2024-11-15T02:00:00+00:00"
    assert "T" in document["row"]["deletion_date"]


def test_explain_text_shows_the_row_in_human_instants(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "explain", "surveys", "6", *AS_OF)
    assert code == 0 and "deletion_date = 2024-11-15 02:00:00 UTC" in out


def test_a_prefix_hold_on_an_integer_key_is_refused_saying_why(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, "hold", "add", "surveys", "1*", "--reason", "x")
    assert code == 2 and not out
    assert "prefix holds work on text keys only" in err and "hold each key" in err
    assert run_cli(capsys, "hold", "add", "surveys", "x1", "--reason", "x")[0] == 2


def test_tick_without_jobs_exits_0_saying_why(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "lethe.toml"
    text = policy.read_text()
    policy.write_text(text[: text.index("[[jobs]]")])
    code, out, _ = run_cli(capsys, "tick")
    assert code == 0 and "Nothing to run: lethe.toml declares no [[jobs]]" in out


def test_releasing_a_released_hold_says_when_in_lethes_own_format(census, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(capsys, "hold", "add", "surveys", "1", "--reason", "x")[0] == 0
    assert run_cli(capsys, "hold", "release", "1")[0] == 0
    code, _, err = run_cli(capsys, "hold", "release", "1")
    assert code == 2
    assert re.fullmatch(
        r"lethe: error: hold 1 was already released at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n", err
    ), err


def test_a_missing_policy_file_is_named_absolutely(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(capsys, "--config", "nosuch.toml", "check")
    assert code == 2
    assert f"policy file not found: {tmp_path / 'nosuch.toml'} (" in err
