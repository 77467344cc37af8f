"""``lethe runs`` and ``lethe runs show``: full ids at any width, dry runs delete nothing,
and a readable record (``--json`` for machines)."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported


def _ids(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [r["runId"] for r in json.loads(run_cli(capsys, "runs", "--json")[1])]


def test_the_run_list_keeps_ids_whole_at_80_columns_and_dry_runs_delete_nothing(
    census, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(capsys, "run", "--dry-run", *AS_OF)[0] == 0
    assert run_cli(capsys, "run", *AS_OF)[0] == 0
    real, dry = _ids(capsys)
    rows = json.loads(run_cli(capsys, "runs", "--json")[1])
    assert [r["deleted"] for r in rows] == [3, 0] and rows[1]["wouldDelete"] == 3
    for width in ("80", "60", "200"):
        monkeypatch.setenv("COLUMNS", width)
        code, out, _ = run_cli(capsys, "runs")
        assert code == 0 and real in out and dry in out, width
        assert "0 (would be 3)" in out
        assert all(len(line) <= int(width) for line in out.splitlines() if "━" in line)


def test_runs_show_reads_as_text_and_as_json(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    assert run_cli(capsys, "run", *AS_OF)[0] == 0
    (run_id,) = _ids(capsys)
    code, out, _ = run_cli(capsys, "runs", "show", run_id)
    record = json.loads(run_cli(capsys, "runs", "show", run_id, "--json")[1])
    assert code == 0 and record["runId"] == run_id
    head = record["auditHead"]
    assert f"Run {run_id}: succeeded" in out
    assert f"audit chain head: event {head['seq']}, {head['hash']}" in out
    assert "took " in out and "evaluated as of 2024-10-26 02:00:00 UTC" in out
    assert "surveys_surveyresponse" in out and "Hard deleted: 2 surveys" in out
    assert "Skipped, under hold: 1 surveys" in out
    assert not out.lstrip().startswith("{")


def test_runs_show_lists_a_runs_errors(census, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with (tmp_path / "lethe.toml").open("a") as f:
        f.write('\n[limits.breaker]\nmax_rows = 1\nmax_percent = 1\nmode = "or"\n')
    assert run_cli(capsys, "run", *AS_OF)[0] == 3
    (run_id,) = _ids(capsys)
    code, out, _ = run_cli(capsys, "runs", "show", run_id)
    assert code == 0 and f"Run {run_id}: tripped" in out
    assert "Refused by a safety limit: policy data-governance: would remove" in out


def test_runs_show_lists_the_errors_of_a_degraded_run(
    census, capsys, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.support.apps import example_policy

    (tmp_path / "lethe.toml").write_text(example_policy("census", warnings=True))
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", "1")  # nothing listens: every warning fails
    assert run_cli(capsys, "run", *AS_OF)[0] == 1
    (run_id,) = _ids(capsys)
    record = json.loads(run_cli(capsys, "runs", "show", run_id, "--json")[1])
    code, out, _ = run_cli(capsys, "runs", "show", run_id)
    assert code == 0 and f"Run {run_id}: degraded" in out
    assert f"Errors ({len(record['errors'])}):" in out
    assert record["errors"] and record["errors"][0] in out
