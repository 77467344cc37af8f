"""The Census tables with surveys that are all due, and a purge-only policy, for crash tests."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, insert

from tests.support.apps import example_module

__all__ = ["purge_census"]


def purge_census(
    url: str, directory: Path, *, surveys: int, responses: int, batch_size: int, due: datetime
) -> Path:
    """Seed ``surveys`` surveys due at ``due``, each with ``responses`` responses, and write
    ``directory/lethe.toml`` purging them (with their responses) in batches of ``batch_size``."""
    census = example_module("census")
    engine = create_engine(url)
    census.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(census.users).values(id=1, email="o@example.org"))
        conn.execute(
            insert(census.surveys),
            [
                dict(id=i, owner_id=1, name=f"s{i}", retention_months=1, deletion_date=due)
                for i in range(1, surveys + 1)
            ],
        )
        conn.execute(
            insert(census.responses),
            [
                {"survey_id": i, "answers": "{}"}
                for i in range(1, surveys + 1)
                for _ in range(responses)
            ],
        )
    engine.dispose()
    policy = directory / "lethe.toml"
    policy.write_text(
        textwrap.dedent(f"""
        [limits]
        batch_size = {batch_size}
        batch_seconds = 0
        [limits.breaker]
        enabled = false
        [stores.app]
        url = "{url}"
        [datasets.surveys]
        table = "surveys_survey"
        key = "id"
        due_column = "deletion_date"
        no_action = "cascade"    # the Census schema declares no rule: responses go with it
        [policies.purge]
        dataset = "surveys"
        [[policies.purge.actions]]
        type = "purge"
        """)
    )
    return policy


# A `lethe` command line SIGKILLed right after recording the intent of its third batch: the
# store transaction never commits, the intent stays pending, the run stays "running" with a
# live lease.
KILL_AT_THIRD_INTENT = """
import os, signal, sys
from lethe.state.batches import BatchLog
from lethe.cli.app import main

calls = {"n": 0}
original = BatchLog.prepare

def prepare_then_die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    calls["n"] += 1
    if calls["n"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)

BatchLog.prepare = prepare_then_die
sys.exit(main(sys.argv[1:]))
"""
