"""The Census example with its warn phase, wired to a loopback SMTP server."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

from lethe import Lethe
from lethe.testing import Clock
from tests.support.apps import NOW, example_lethe, example_policy

__all__ = [
    "add_surveys",
    "body",
    "census_with_warnings",
    "deliveries",
    "listed_items",
    "mail_env",
    "survey_ids",
]


def mail_env(port: int) -> dict[str, str]:
    """The environment pointing an example's SMTP sender at ``127.0.0.1:port``."""
    return {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "DEFAULT_FROM_EMAIL": "governance@census.example.org",
        "SITE_URL": "https://census.example.org",
    }


def census_with_warnings(
    url: str,
    state_dir: Path,
    port: int,
    policy: str | None = None,
    *,
    name: str = "census",
    clock: Clock | None = None,
    **env: str,
) -> Lethe:
    """An example (Census by default) with warnings on, sending to ``127.0.0.1:port``."""
    return example_lethe(
        name,
        url,
        state_dir,
        policy if policy is not None else example_policy(name, warnings=True),
        env={**mail_env(port), **env},
        clock=clock,
    )


def add_surveys(
    engine: Engine, census: Any, surveys: Iterable[tuple[int, int, float, str]], now: datetime = NOW
) -> None:
    """Insert ``(id, owner id, days until deletion, name)`` surveys."""
    with engine.begin() as conn:
        for survey_id, owner, days, name in surveys:
            conn.execute(
                insert(census.surveys).values(
                    id=survey_id,
                    owner_id=owner,
                    name=name,
                    retention_months=12,
                    deletion_date=now + timedelta(days=days),
                )
            )


def body(message: EmailMessage, kind: str = "plain") -> str:
    """The text (or html) part of a received message."""
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def listed_items(message: EmailMessage) -> set[str]:
    """The survey keys a default-template message lists ("  - 6, name: …")."""
    return {
        line.strip()[2:].split(",")[0]
        for line in body(message).splitlines()
        if line.startswith("  - ")
    }


def deliveries(lethe: Lethe) -> list[dict[str, Any]]:
    """Every row of the delivery ledger."""
    with lethe.runtime.state.read() as conn:
        rows = conn.execute(text("SELECT * FROM lethe_deliveries ORDER BY id")).mappings()
        return [dict(row) for row in rows]


def survey_ids(engine: Engine, census: Any) -> set[int]:
    """Surveys still present and not soft-deleted."""
    with engine.connect() as conn:
        query = select(census.surveys.c.id).where(census.surveys.c.deleted_at.is_(None))
        return set(conn.execute(query).scalars())
