"""The ``lethe demo`` walkthrough: create, check, plan, run, verify."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich.console import Console

from lethe.api import Lethe
from lethe.cli.render import render_check, render_plan, render_result
from lethe.demo.seed import create_demo_database

__all__ = ["run_demo"]


def run_demo(directory: Path, console: Console) -> None:
    """Create the demo in ``directory`` (replacing an earlier demo there) and run it once."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / ".lethe", ignore_errors=True)
    now = datetime.now(UTC)
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
