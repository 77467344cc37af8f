"""Error messages: one line, the file and the key, shown as written (no markup eaten), once."""

from __future__ import annotations

import re

from tests.support.cli import census, run_cli

__all__ = ["census"]  # the fixture, imported

_EXTRA = re.compile(r"lethe-retention\[\w+\]")


def test_a_missing_driver_names_the_file_and_its_extra_once(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://app:pw@127.0.0.1/app")
    code, out, _ = run_cli(capsys, "check")
    assert code == 2 and out.count("no driver for") == 1
    assert _EXTRA.search(out), out
    code, _, err = run_cli(capsys, "run")
    assert code == 2 and err.startswith("lethe: error: lethe.toml: stores.app.url: no driver")
    assert _EXTRA.search(err) and err.count("\n") == 1


def test_an_unsupported_url_names_the_file(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "nonsense")
    code, _, err = run_cli(capsys, "plan")
    assert code == 2 and err.startswith("lethe: error: lethe.toml: stores.app.url: unsupported")
