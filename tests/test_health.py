"""`lethe health`: unhealthy with no successful run in the window, or when the last run had
more errors than allowed; judged from recorded runs at any instant (`as_of`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lethe import ConfigError, Lethe
from tests.support.backends import S3Backend

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)


def test_health_follows_the_window_and_the_error_threshold(
    s3_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    backend = S3Backend(s3_endpoint)
    with Lethe.from_toml(backend.policy(), base_dir=tmp_path, env=dict(os.environ)) as lethe:
        never = lethe.health()
        assert not never.healthy and "(ever)" in never.policies[0].problems[0]

        assert lethe.run(as_of=NOW).ok  # nothing due yet: a successful run all the same
        assert lethe.health().healthy
        in_two_days = datetime.now(UTC) + timedelta(hours=49)
        stale = lethe.health(as_of=in_two_days)
        assert not stale.healthy and "no successful run within 2d" in stale.policies[0].problems[0]

        refused = [backend.key(n) for n in range(6)]
        backend.seed(dict.fromkeys(refused, NOW - timedelta(days=3)))
        backend.deny_delete(refused)
        assert len(lethe.run(as_of=NOW).errors) == 6
        noisy = lethe.health()
        assert noisy.policies[0].problems == (
            f"last run {noisy.policies[0].last_run} had 6 errors",
        )
        assert noisy.to_document()["status"] == "unhealthy"
        with pytest.raises(ConfigError, match="unknown policy"):
            lethe.health(["nope"])


def test_dry_runs_count_unless_the_file_says_otherwise(
    s3_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    backend = S3Backend(s3_endpoint)
    policy = backend.policy("[health]\ncount_dry_runs = false\n")
    with Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ)) as lethe:
        lethe.run(as_of=NOW, dry_run=True)
        assert not lethe.health().healthy
    with Lethe.from_toml(backend.policy(), base_dir=tmp_path, env=dict(os.environ)) as lethe:
        assert lethe.health().healthy
