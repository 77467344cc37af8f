"""The README's policy examples load and every command and option has its row in "## Commands",
so the docs promise only what the code does and leave nothing out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import lethe
from lethe.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
NOTIFICATIONS = (Path(__file__).resolve().parents[1] / "docs" / "notifications.md").read_text()
BASE = """
[stores.app]
url = "sqlite:///app.db"
[datasets.surveys]
table = "surveys_survey"
key = "id"
due_column = "deletion_date"
[policies.data-governance]
dataset = "surveys"
"""


def _toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_the_policy_in_one_screen_loads() -> None:
    screen = next(b for b in _toml_blocks(README) if "[stores.app]" in b)
    settings = lethe.load(screen, env={})
    assert [a.type for a in settings.config.policies["data-governance"].actions] == [
        "warn",
        "soft_delete",
        "purge",
    ]


def test_the_warning_examples_load() -> None:
    blocks = [
        b
        for b in _toml_blocks(README) + _toml_blocks(NOTIFICATIONS)
        if 'type = "warn"' in b and "[stores." not in b
    ]
    assert len(blocks) >= 2
    for block in blocks:
        settings = lethe.load(BASE + block.replace('templates = "mail"', ""), env={})
        (warn,) = settings.config.policies["data-governance"].actions
        assert [m.label for m in warn.milestones()] == ["1-day", "7-day", "30-day"]  # type: ignore[attr-defined]


def test_the_deploying_example_loads_and_generates() -> None:
    from datetime import UTC, datetime

    from lethe.deploy import context_for, generate

    block = next(b for b in _toml_blocks(README) if "[deploy]" in b)
    text = BASE + '[[policies.data-governance.actions]]\ntype = "purge"\n' + block
    settings = lethe.load(text, env={})
    context = context_for(settings, text, now=datetime(2026, 6, 1, tzinfo=UTC))
    jobs = settings.config.jobs
    paths = [a.path for a in generate("kubernetes", jobs, jobs, context)]
    assert paths == [
        "census-data-governance.yaml",
        "run-now/census-data-governance.yaml",
        "run-now.sh",
    ]


def test_no_document_carries_merge_conflict_markers() -> None:
    # A branch once landed the README with a conflict's markers; git accepts them as text.
    root = Path(__file__).resolve().parents[1]
    marked = [
        str(path.relative_to(root))
        for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
        if re.search(r"^(<{7} |>{7} |={7}$)", path.read_text(), re.M)
    ]
    assert marked == []


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    children = getattr(command, "commands", None)
    if children is None:
        yield "lethe " + " ".join(path), command
        return
    for name, child in children.items():
        yield from _commands(child, (*path, name))


def _command_rows() -> list[str]:
    start = README.index("## Commands")
    section = README[start : README.index("\n## ", start + 1)]
    return [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `lethe ")]


COMMANDS = sorted(_commands(typer.main.get_command(app)), key=lambda c: c[0])


def test_the_command_walk_finds_nested_commands() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"lethe run", "lethe hold release", "lethe audit verify", "lethe jobs trigger"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=lambda c: str(c))
def test_each_command_and_option_has_its_readme_row(name: str, command: Any) -> None:
    rows = [
        r
        for r in _command_rows()
        if re.search(re.escape(f"`{name}") + r"[ `]", r) or f"`{name}`" in r
    ]
    assert rows, f"README ## Commands has no row for {name}"
    for param in command.params:
        long = [o for o in param.opts if o.startswith("--") and o != "--help"]
        if long:
            assert any(o in row for o in long for row in rows), f"{name}: {long[0]} undocumented"
