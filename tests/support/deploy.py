"""Generating deployment files from the examples, with a fixed clock, for the deploy tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from lethe.config.loader import load, load_file
from lethe.deploy import Artifact, context_for, generate
from lethe.deploy.base import DeployContext

__all__ = ["EXAMPLES", "NOW", "PLATFORMS", "from_text", "render"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# A fixed "now": refusals that depend on the coming DST changes do not move with the date.
NOW = datetime(2026, 6, 1, tzinfo=UTC)

#: Every platform each seed's write-up uses.
PLATFORMS = {
    "census": [
        "northflank", "compose", "crontab", "kubernetes", "eventbridge", "heroku", "github-actions"
    ],
    "checktick": [
        "northflank", "compose", "crontab", "kubernetes", "eventbridge", "heroku", "github-actions"
    ],
    "datapilot": ["crontab", "windows", "kubernetes"],
    "therapy": ["pg-cron", "github-actions"],
    "validibot": ["cloud-scheduler"],
}  # fmt: skip


def render(
    example: str,
    target: str,
    *,
    env: Mapping[str, str] | None = None,
    approximate: bool = False,
    stage: str | None = None,
) -> tuple[list[Artifact], DeployContext]:
    """The files ``lethe deploy TARGET`` writes for an example, and the context (warnings)."""
    path = EXAMPLES / example / "lethe.toml"
    settings = load_file(path, env=env or {})
    text = path.read_text(encoding="utf-8")
    context = context_for(settings, text, now=NOW, stage=stage, approximate=approximate)
    jobs = settings.config.jobs
    return generate(target, jobs, jobs, context), context


def from_text(
    text: str, target: str, *, approximate: bool = False
) -> tuple[list[Artifact], DeployContext]:
    """The same for a policy file given as text."""
    settings = load(text, base_dir=Path("/srv/lethe"))  # the project is named after it
    context = context_for(settings, text, now=NOW, approximate=approximate)
    jobs = settings.config.jobs
    return generate(target, jobs, jobs, context), context
