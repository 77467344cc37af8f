"""``lethe run --dry-run`` rehearses exactly what the real run would do, plan files included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported
_run = run_cli


def _outcome(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = _run(capsys, "run", "--json", *argv, *AS_OF)
    record = json.loads(out)
    phases = [
        (p["policy"], p["phase"], p["acted"], p["held"], p["blocked"], p["cascade"])
        for p in record["phases"]
    ]
    return {"code": code, "phases": phases, "drift": record["drift"]}


def test_a_dry_run_of_a_plan_file_does_what_the_real_plan_run_does(census, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "plan", "--out", "plan.json", *AS_OF)[0] == 0
    planned = json.loads(Path("plan.json").read_text())
    purged = next(p["keys"] for p in planned["phases"] if p["action"] == "purge")
    assert _run(capsys, "hold", "add", "surveys", purged[0], "--reason", "late hold")[0] == 0

    rehearsal = _outcome(capsys, "--plan", "plan.json", "--dry-run")
    real = _outcome(capsys, "--plan", "plan.json", "--no-dry-run")
    assert rehearsal == real
    assert real["drift"]["now_held"] == 1 and real["drift"]["planned"] == len(purged) + 1

    # Everything planned is gone now: the rehearsal says so, as the real run does.
    rehearsal = _outcome(capsys, "--plan", "plan.json", "--dry-run")
    real = _outcome(capsys, "--plan", "plan.json", "--no-dry-run")
    assert rehearsal == real
    assert real["drift"]["no_longer_due"] == real["drift"]["planned"] - 1
    assert all(acted == 0 for _, _, acted, *_ in real["phases"])


def test_a_verbose_dry_run_lists_each_lines_keys_under_it(census, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "run", "--dry-run", "-v", *AS_OF)
    lines = out.splitlines()

    def keys_under(line: str, start: int = 0) -> str:
        at = lines.index(line, start)
        return lines[at + 1].strip()

    assert code == 0
    assert keys_under("Would be soft deleted: 1 surveys") == "1"
    assert keys_under("Skipped, under hold: 1 surveys") == "3"
    purge = next(i for i, line in enumerate(lines) if line.startswith("Would be hard deleted"))
    assert lines[purge + 1].strip() == "2, 7"
    assert keys_under("Skipped, under hold: 1 surveys", purge) == "4"
