"""Driving the command line in tests: the Census example in a temporary folder, and a runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe.cli.app import main
from tests.support.apps import NOW, example_policy, seeded

__all__ = ["AS_OF", "census", "run_cli"]

AS_OF = ["--as-of", NOW.isoformat()]


@pytest.fixture
def census(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The Census example seeded in ``tmp_path/census.db``, its policy as ``./lethe.toml``."""
    url = f"sqlite:///{tmp_path / 'census.db'}"
    module, engine = seeded("census", url)
    (tmp_path / "lethe.toml").write_text(example_policy("census"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return module, engine


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``lethe ARGV``: its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
