"""A state database lethe cannot write is refused up front, in one line, before any change."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lethe.cli.app import main
from tests.support.apps import example_policy, keys, seeded

ROOT = os.geteuid() == 0  # root writes through file modes; only chattr +i stops it


@pytest.fixture
def census(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'census.db'}"
    module, engine = seeded("census", url)
    (tmp_path / "lethe.toml").write_text(
        '[state]\nurl = "sqlite:///state/lethe.db"\n' + example_policy("census")
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["run", "--dry-run"]) == 0  # the state database exists
    return module, engine


def _immutable(path: Path) -> Iterator[None]:
    if not ROOT or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root and chattr")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip(f"the file system under {path} has no immutable attribute")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _refused(capsys: pytest.CaptureFixture[str], census, what: str) -> None:  # type: ignore[no-untyped-def]
    module, engine = census
    capsys.readouterr()
    for command in (["run"], ["runs"], ["check"]):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 5, command  # like an unreachable store
        line = err if command != ["check"] else out
        assert "is read-only" in line and what in line, line
        if command != ["check"]:
            assert err.count("\n") == 1, err
    assert keys(engine, module.surveys) == set(range(1, 8))


def test_an_immutable_state_file_is_refused_in_one_line(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for _ in _immutable(tmp_path / "state" / "lethe.db"):
        _refused(capsys, census, "lethe.db cannot be written")


def test_an_immutable_state_directory_is_refused_in_one_line(
    census, capsys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    for _ in _immutable(tmp_path / "state"):
        _refused(capsys, census, "directory")


@pytest.mark.skipif(ROOT, reason="root writes through file modes")
def test_a_state_file_without_write_permission_is_refused(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "state" / "lethe.db").chmod(0o444)
    _refused(capsys, census, "lethe.db cannot be written")


@pytest.mark.skipif(ROOT, reason="root writes through directory modes")
def test_a_read_only_state_directory_is_refused(census, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "state").chmod(0o555)
    try:
        _refused(capsys, census, "directory")
    finally:
        (tmp_path / "state").chmod(0o755)
