"""The ``lethe demo`` walkthrough: create, check, plan, run, verify."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich.console import Console

from lethe.api import Lethe
from lethe.cli.render import render_check, render_plan, render_result
from lethe.demo.seed import create_demo_database
from lethe.errors import ConfigError

__all__ = ["DEMO_FILES", "run_demo"]

#: What the demo writes into its folder; it never replaces any of them without ``--force``.
DEMO_FILES = ("lethe.toml", "app.db", ".lethe")
# SQLite's companions of app.db move with it: a stale WAL must not meet a new database.
_COMPANIONS = ("app.db-wal", "app.db-shm", "app.db-journal")


def _make_room(directory: Path, force: bool, now: datetime) -> Path | None:
    """Refuse a folder holding the demo's files unless ``force``; then move them aside (an
    audit ledger is never deleted) and return where they went."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder; choose another --dir")
    present = [name for name in DEMO_FILES if (directory / name).exists()]
    if not present:
        return None
    if not force:
        raise ConfigError(
            f"{directory} already holds {', '.join(present)}; lethe demo does not replace "
            "them. Choose another --dir, or pass --force to move them aside (nothing is deleted)"
        )
    aside = directory / f"lethe-demo-backup-{now:%Y%m%dT%H%M%S%fZ}"
    aside.mkdir()
    for name in present + [c for c in _COMPANIONS if (directory / c).exists()]:
        (directory / name).rename(aside / name)
    return aside


def run_demo(directory: Path, console: Console, *, force: bool = False) -> None:
    """Create the demo in ``directory`` and run it once.

    A folder that already holds a policy file, an ``app.db`` or lethe's state is refused
    unless ``force``, which moves them into a backup folder first and says where.
    """
    now = datetime.now(UTC)
    aside = _make_room(directory, force, now)
    directory.mkdir(parents=True, exist_ok=True)
    if aside is not None:
        console.print(
            f"Moved the earlier {', '.join(sorted(p.name for p in aside.iterdir()))} to {aside}\n",
            markup=False,
        )
    create_demo_database(directory / "app.db", now)
    policy = resources.files("lethe.demo").joinpath("lethe.toml").read_text(encoding="utf-8")
    (directory / "lethe.toml").write_text(policy, encoding="utf-8")
    console.rule("lethe demo: a survey platform's nightly retention job")
    console.print(
        f"Created {directory / 'app.db'} (8 surveys with responses and answers, 2 legal holds, "
        f"6 progress records)\nand the policy {directory / 'lethe.toml'}.\n"
    )
    with Lethe.from_file(directory / "lethe.toml", env={}) as lethe:
        console.rule("1. lethe check")
        render_check(console, lethe.check())
        console.rule("2. lethe plan")
        render_plan(console, lethe.plan(), verbose=True)
        console.rule("3. lethe run")
        result = lethe.run()
        render_result(console, result)
        console.rule("4. lethe run (again: nothing left to do)")
        render_result(console, lethe.run())
        report = lethe.verify_audit()
        console.rule("5. lethe audit verify")
        console.print(f"Audit chain verifies: {report.events} events, head {report.head[:16]}…")
    console.print(
        f"\nExplore it:  cd {directory}  then  lethe explain surveys 4 · lethe hold list · "
        f"lethe runs · lethe runs show {result.run_id}"
    )
