"""A run is recorded ``succeeded`` only when it reached its end: an unexpected exception is
recorded ``failed`` with its text, and the command line prints one line for it, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lethe import ConfigError, Lethe, RunStatus
from lethe.cli.app import main
from lethe.engine import executor
from tests.support.apps import NOW, keys
from tests.support.cli import census

__all__ = ["census"]  # the fixture, imported


def _finished(lethe: Lethe) -> list[dict[str, object]]:
    events = lethe.runtime.ledger.iter_events()
    return [e["details"] for e in events if e["event"] == "run_finished"]


def test_an_unexpected_exception_is_recorded_failed_with_its_text(
    census, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def explode(self: executor.PhaseRunner) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(executor.PhaseRunner, "run", explode)
    with Lethe.from_file("lethe.toml") as lethe:
        with pytest.raises(RuntimeError, match="caught fire"):
            lethe.run(as_of=NOW)
        [summary] = lethe.runs()
        assert summary["status"] == "failed"
        record = lethe.run_record(str(summary["runId"]))
        assert record["errors"] == ["unexpected RuntimeError: the disk caught fire"]
        assert [d["status"] for d in _finished(lethe)] == ["failed"]
        assert not lethe.health(as_of=NOW).healthy
    [file] = (tmp_path / ".lethe" / "runs").glob("*.json")
    assert json.loads(file.read_text())["status"] == "failed"


def test_the_cli_prints_one_line_for_an_unexpected_error_and_records_no_success(
    census, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    code = main(["run", "--as-of", "0001-01-01T00:00:00Z"])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert err.count("\n") == 1 and err.startswith("lethe: error: "), err
    assert "Traceback" not in err
    with Lethe.from_file("lethe.toml") as lethe:
        assert all(r["status"] != RunStatus.SUCCEEDED.value for r in lethe.runs())
        assert all(d["status"] != "succeeded" for d in _finished(lethe))


def test_a_runs_dir_that_is_a_file_is_refused_before_anything_changes(
    census, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    module, engine = census
    policy = tmp_path / "lethe.toml"
    policy.write_text('[state]\nruns_dir = "records"\n' + policy.read_text())
    (tmp_path / "records").write_text("not a directory\n")
    assert main(["check"]) == 2
    assert "state.runs_dir: runs_dir" in capsys.readouterr().out
    assert main(["run", "--as-of", NOW.isoformat()]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records is not a directory" in err
    assert keys(engine, module.surveys) == set(range(1, 8))
    with Lethe.from_file(policy) as lethe, pytest.raises(ConfigError, match="not a directory"):
        lethe.run(as_of=NOW)


def test_a_runs_dir_lost_during_the_run_records_it_failed(
    census, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The records directory replaced by a file while the run works: not a success."""
    original = executor.PhaseRunner.run

    def then_lose_the_directory(self: executor.PhaseRunner):  # type: ignore[no-untyped-def]
        result = original(self)
        runs = tmp_path / ".lethe" / "runs"
        if runs.is_dir():
            runs.rmdir()
        runs.write_text("in the way\n")
        return result

    monkeypatch.setattr(executor.PhaseRunner, "run", then_lose_the_directory)
    with Lethe.from_file("lethe.toml") as lethe:
        with pytest.raises(Exception, match="runs is not a directory; the run is recorded failed"):
            lethe.run(as_of=NOW)
        [summary] = lethe.runs()
        assert summary["status"] == "failed"
        assert [d["status"] for d in _finished(lethe)] == ["failed"]
