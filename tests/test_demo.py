"""``lethe demo`` never destroys: a folder holding a policy, an app.db or lethe's state is
refused unless ``--force``, which moves them aside (an audit ledger is never deleted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("name", ["lethe.toml", "app.db", ".lethe"])
def test_a_folder_holding_any_demo_file_is_refused_and_untouched(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / name
    if name == ".lethe":
        target.mkdir()
        (target / "state.db").write_bytes(b"my audit ledger")
    else:
        target.write_text("my own file")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run_cli(capsys, "demo", "--dir", str(tmp_path))
    assert code == 2 and out == ""
    assert f"already holds {name}" in err and "--force" in err
    assert err.strip().count("\n") == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_force_moves_an_earlier_demo_aside_with_its_audit_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--dir", str(demo))[0] == 0
    assert run_cli(capsys, "demo", "--dir", str(demo))[0] == 2

    code, out, _ = run_cli(capsys, "demo", "--dir", str(demo), "--force")
    assert code == 0 and "Audit chain verifies: 10 events" in out
    (aside,) = demo.glob("lethe-demo-backup-*")
    assert f"Moved the earlier .lethe, app.db, lethe.toml to {aside}" in out
    code, out, _ = run_cli(capsys, "-c", str(aside / "lethe.toml"), "audit", "verify")
    assert code == 0 and "Audit chain verifies: 10 events" in out


def test_the_demo_policy_points_at_files_that_exist() -> None:
    from importlib import resources

    text = resources.files("lethe.demo").joinpath("lethe.toml").read_text(encoding="utf-8")
    root = Path(__file__).resolve().parents[1]
    for word in text.split():
        if word.startswith(("docs/", "examples/")):
            assert (root / word.rstrip(".,);:")).exists(), word
