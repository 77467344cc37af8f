"""Blob and Redis stores beyond the shared contract: per-key bulk-delete failures, unreadable
ages, listing order, idle time, and least-privilege grants tried on a real server."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis

from lethe import Lethe, RunStatus
from lethe.testing import ManualClock
from tests.support.backends import FileBackend, RedisBackend, S3Backend, make_backend

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=48)


def _lethe(policy: str, tmp_path: Path) -> Lethe:
    return Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ))


def test_s3_per_key_delete_errors_are_reported_per_key_and_retried_next_run(
    s3_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    backend = S3Backend(s3_endpoint)
    due = [backend.key(n) for n in range(1, 7)]
    backend.seed(dict.fromkeys(due, OLD))
    refused = [backend.key(2), backend.key(5)]
    backend.deny_delete(refused)  # DeleteObjects then reports AccessDenied for these keys
    with _lethe(backend.policy(), tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.status is RunStatus.DEGRADED
        assert (result.phases[0].acted, result.phases[0].failed) == (4, 2)
        assert backend.keys() == set(refused)
        assert len(result.errors) == 2
        for key, error in zip(sorted(refused), result.errors, strict=True):
            assert key in error and "AccessDenied" in error
        events = list(lethe.runtime.ledger.iter_events())
        assert sorted(e["item_key"] for e in events if e["event"] == "skipped_error") == sorted(
            refused
        )
        assert {e["item_key"] for e in events if e["event"] == "hard_deleted"} == set(due) - set(
            refused
        )
        backend.allow_delete()
        again = lethe.run(as_of=NOW)
        assert again.ok and again.deleted == 2 and backend.keys() == set()
        assert lethe.verify_audit().ok


@pytest.mark.parametrize("name", ["s3", "redis"])
def test_items_with_a_missing_or_malformed_age_are_skipped_and_counted(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    s3 = redis = None
    if name == "s3":
        request.getfixturevalue("s3_env")
        s3 = request.getfixturevalue("s3_endpoint")
    else:
        redis = request.getfixturevalue("redis_url")
    backend = make_backend(name, tmp_path, s3, redis)
    good, missing, bad, epoch = (backend.key(n) for n in (1, 2, 3, 4))
    backend.seed({good: OLD, missing: None, bad: "last tuesday", epoch: str(int(OLD.timestamp()))})
    with _lethe(backend.policy(), tmp_path) as lethe:
        plan = lethe.plan(as_of=NOW)
        assert sorted(map(str, plan.phases[0].keys)) == sorted([good, epoch])
        assert sorted(map(str, plan.phases[0].unreadable)) == sorted([missing, bad])
        result = lethe.run(as_of=NOW)
        assert result.ok and result.phases[0].unreadable == 2
        assert backend.keys() == {missing, bad}
        record = lethe.run_record(result.run_id)
        assert record["phases"][0]["unreadable"] == 2
        unreadable = lethe.explain("items", bad, as_of=NOW)
        assert unreadable.exists and not unreadable.verdicts[0].selected_now


def test_objects_come_in_key_order_on_a_local_directory_as_on_s3(
    s3_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    keys = ["uploads/a/b.csv", "uploads/a0.csv", "uploads/a/a/z", "uploads/b", "results/x/y/z"]
    orders = []
    for backend in (FileBackend(tmp_path), S3Backend(s3_endpoint)):
        backend.seed(dict.fromkeys(keys, OLD))
        with _lethe(backend.policy(), tmp_path) as lethe:
            handle = lethe.runtime.target("expire").handle
            selection = lethe.runtime.target("expire").selection(0, NOW)
            orders.append([str(i.key) for i in handle.iter_select(selection)])
            middle = handle.select(selection, after="uploads/a/b.csv", limit=10)
            assert [str(i.key) for i in middle] == ["uploads/a0.csv", "uploads/b"]
    assert orders[0] == orders[1] == sorted(keys)


def test_redis_keys_can_age_by_idle_time(redis_url: str, tmp_path: Path) -> None:
    backend = RedisBackend(redis_url)
    backend.seed({"job:1": OLD, "job:2": OLD})
    policy = backend.policy().replace('age_column = "createdAt"', 'age_column = "@idle_since"')
    clock = ManualClock(datetime.now(UTC))
    with Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ), clock=clock) as lethe:
        assert lethe.run().deleted == 0  # just written: not idle for 24 hours
        clock.advance(timedelta(hours=25))
        assert lethe.run().deleted == 2
    assert backend.keys() == set()


def test_blob_grants_are_an_iam_policy_on_exactly_the_prefixes(
    s3_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    backend = S3Backend(s3_endpoint)
    policy = backend.policy().replace(
        "[limits.breaker]",
        "[state]\nrecords = { store = "
        '"main", prefix = "maintenance/cleaner_runs/" }\n[limits.breaker]',
    )
    with _lethe(policy, tmp_path) as lethe:
        lines = lethe.grants("cleaner")["main"]
    document = json.loads("\n".join(lines[1:]))
    bucket = f"arn:aws:s3:::{backend.bucket}"
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ListDatasetPrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
        "results/*",
        "uploads/*",
    ]
    assert statements["DeleteExpiredObjects"]["Resource"] == [
        f"{bucket}/results/*",
        f"{bucket}/uploads/*",
    ]
    assert statements["ReadObjectMetadata"]["Action"] == "s3:GetObject"  # metadata age
    assert statements["WriteRunRecords"]["Resource"] == [f"{bucket}/maintenance/cleaner_runs/*"]


def test_the_redis_acl_rule_is_enough_to_run_and_no_more(redis_url: str, tmp_path: Path) -> None:
    backend = RedisBackend(redis_url)
    backend.seed({"job:1": OLD, "job:2": NOW})
    backend.client.set("session:1", "not lethe's")
    with _lethe(backend.policy(), tmp_path) as lethe:
        (rule,) = lethe.grants("cleaner")["main"]
    assert rule == (
        "ACL SETUSER cleaner on >CHANGE-ME resetkeys ~job:* resetchannels -@all "
        "+eval_ro +hmget +ping +scan +type +unlink"
    )
    admin = Redis.from_url(redis_url)
    admin.execute_command(*rule.replace("CHANGE-ME", "s3cret-pw").split())
    narrow = redis_url.replace("redis://", "redis://cleaner:s3cret-pw@")
    with _lethe(backend.policy().replace(redis_url, narrow), tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.ok and result.deleted == 1
        assert "s3cret-pw" not in json.dumps(lethe.run_record(result.run_id))
    assert backend.keys() == {"job:2", "session:1"}
    admin.execute_command("ACL", "DELUSER", "cleaner")
    admin.close()


def test_redis_keys_the_server_refuses_to_unlink_are_reported_per_key(
    redis_url: str, tmp_path: Path
) -> None:
    backend = RedisBackend(redis_url)
    backend.seed({"job:01": OLD, "job:02": OLD, "job:11": OLD, "job:12": OLD})
    admin = Redis.from_url(redis_url)
    # Reads on every job key, writes (UNLINK) only on job:0*: a real per-key NOPERM.
    admin.execute_command(
        "ACL",
        "SETUSER",
        "half",
        "on",
        ">half-pw",
        "resetkeys",
        "%R~job:*",
        "%W~job:0*",
        "-@all",
        "+eval_ro",
        "+ping",
        "+scan",
        "+type",
        "+hmget",
        "+unlink",
    )
    narrow = redis_url.replace("redis://", "redis://half:half-pw@")
    with _lethe(backend.policy().replace(redis_url, narrow), tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.status is RunStatus.DEGRADED
        assert (result.phases[0].acted, result.phases[0].failed) == (2, 2)
        assert all("NOPERM" in e or "permission" in e.lower() for e in result.errors)
        assert [e.split(": ")[1] for e in result.errors] == ["items job:11", "items job:12"]
    assert backend.keys() == {"job:11", "job:12"}
    admin.execute_command("ACL", "DELUSER", "half")
    admin.close()


@pytest.mark.parametrize("name", ["file", "sqlite"])
def test_only_stores_that_lock_size_batches_by_time(name: str, tmp_path: Path) -> None:
    """A blob or Redis batch holds no lock, so it keeps ``batch_size`` (one DeleteObjects per
    1,000 keys); a SQL batch that overruns its time target shrinks the next one."""
    backend = make_backend(name, tmp_path, None, None)
    backend.seed({backend.key(n): OLD for n in range(25)})
    policy = backend.policy("[limits]\nbatch_size = 10\nbatch_seconds = 0.000001\n")
    sizes: list[int] = []
    with _lethe(policy, tmp_path) as lethe:
        result = lethe.run(as_of=NOW, progress=lambda report: sizes.append(report.acted))
    assert result.ok and result.deleted == 25 and backend.keys() == set()
    if name == "file":
        assert sizes == [10, 10, 5]
    else:
        assert sizes[0] == 10 and set(sizes[1:]) == {1}  # shrunk to the floor, a tenth
