"""``[[jobs]]``, ``[scheduler]`` and ``[serve]`` in the policy file: one-line errors (exit 2,
nothing touched), warnings for surprising schedules, secrets kept out of every message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lethe.config import load
from lethe.errors import ConfigError
from tests.support.jobs import write_policy

REPO = Path(__file__).resolve().parents[1]
BASE = """
[stores.app]
url = "sqlite:///app.db"
[datasets.d]
table = "t"
key = "id"
due_column = "due"
[policies.p]
dataset = "d"
[[policies.p.actions]]
type = "purge"
"""


def _job(**fields: str) -> str:
    values = {"name": '"j"', "schedule": '"0 2 * * *"', "policies": '["p"]', **fields}
    return "[[jobs]]\n" + "\n".join(f"{k} = {v}" for k, v in values.items()) + "\n"


@pytest.mark.parametrize(
    ("extra", "where", "problem"),
    [
        (_job(schedule='"0 0 31 2 *"'), "jobs[0].schedule", "never runs"),
        (_job(schedule='"*/5 * * *"'), "jobs[0].schedule", "has 4 fields"),
        (_job(timezone='"Sydney"'), "jobs[0].timezone", "unknown time zone"),
        (_job(policies='["nope"]'), "jobs[0].policies", "unknown policy 'nope'"),
        (_job() + _job(), "jobs[1].name", "duplicate job name"),
        (_job(overlap='"allow"'), "jobs[0].overlap", "skip"),
        (_job(timeout='"1mo"'), "jobs[0].timeout", "counts months"),
        (_job(retries="11"), "jobs[0].retries", "less than or equal to 10"),
        (_job(ping='"ftp://x"'), "jobs[0].ping", "http(s) URL"),
        ('[scheduler]\nlease = "5s"\n', "scheduler.lease", "at least 10s"),
        ('[serve]\nbearer_tokens = ["short"]\n', "serve.bearer_tokens", "at least 16"),
        (
            '[serve.oidc]\naudience = "a"\nallowed_emails = []\n',
            "serve.oidc.allowed_emails",
            "at least 1",
        ),
        (
            '[serve.oidc]\naudience = "a"\nallowed_emails = ["x@y"]\njwks_url = "http://k.example/j"\n',
            "serve.oidc.jwks_url",
            "must be https",
        ),
    ],
)
def test_bad_job_settings_are_one_line_errors(extra: str, where: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(BASE + extra)
    message = str(error.value)
    assert message.startswith(f"lethe.toml: {where}: ") and problem in message
    assert "\n" not in message


def test_the_cli_refuses_an_impossible_schedule_with_exit_2_and_one_line(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path, f"sqlite:///{tmp_path / 'app.db'}", _job(schedule='"0 0 31 2 *"')
    )
    done = subprocess.run(
        [sys.executable, "-m", "lethe", "-c", str(policy), "jobs", "list"],
        capture_output=True,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert done.stderr.decode().strip().count("\n") == 0
    assert "never runs" in done.stderr.decode()
    assert not (tmp_path / ".lethe").exists()  # nothing touched


def test_a_surprising_schedule_loads_with_a_warning(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        f"sqlite:///{tmp_path / 'app.db'}",
        _job(schedule='"*/40 * * * *"', policies='["purge-items"]'),
    )
    done = subprocess.run(
        [sys.executable, "-m", "lethe", "-c", str(policy), "jobs", "list", "--json"],
        capture_output=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "warning: lethe.toml: jobs[0].schedule: '*/40'" in done.stderr.decode()


def test_a_bearer_token_never_appears_in_an_error(tmp_path: Path) -> None:
    secret = "s3cret-token-value-that-is-long"
    policy = write_policy(
        tmp_path,
        f"sqlite:///{tmp_path / 'app.db'}",
        "",
        extra=f'[serve]\nbearer_tokens = "{secret}"\n',
    )
    done = subprocess.run(
        [sys.executable, "-m", "lethe", "-c", str(policy), "jobs", "list"],
        capture_output=True,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert secret not in done.stderr.decode() and "serve.bearer_tokens" in done.stderr.decode()


def test_the_readme_jobs_example_loads() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Jobs on a schedule", 1)[1]
    snippet = section.split("```toml", 1)[1].split("```", 1)[0]
    base = BASE.replace("[policies.p]", "[policies.clear-sessions]").replace(
        "[[policies.p.actions]]", "[[policies.clear-sessions.actions]]"
    )
    settings = load(base + snippet)
    (job,) = settings.config.jobs
    assert (job.name, job.timezone) == ("clear-sessions", "Australia/Sydney")
    assert settings.config.serve.oidc is not None
