"""The README's policy examples load, so the docs promise only what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import lethe

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
