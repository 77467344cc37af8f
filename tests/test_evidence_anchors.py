"""Anchors: each run's head kept outside the state database, so that a database administrator
who rewrites the ledger (and re-signs it with a key of their own) or rolls it back is caught by
``lethe audit verify``; an anchor that is down never fails a run, and the next run catches up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lethe import Lethe
from lethe.cli.app import main
from lethe.evidence.anchors import AnchorError, Head
from lethe.evidence.anchors.file import FileAnchor
from lethe.evidence.anchors.s3 import S3AnchorConfig
from lethe.evidence.signing import Signer
from tests.support.apps import NOW
from tests.support.crash import purge_census
from tests.support.mail import Hook
from tests.test_ledger_signatures import _reforge

SEED = base64.b64encode(bytes(range(32))).decode("ascii")
ENV = {"LETHE_TEST_KEY": SEED, "ANCHOR_SECRET": "hook-secret-0123456789"}
_buckets = count()


def _policy(url: str, directory: Path, anchors: str) -> Path:
    """30 surveys to purge in 3 signed batches; the file's ``[[evidence.anchors]]``."""
    policy = purge_census(url, directory, surveys=30, responses=1, batch_size=10, due=NOW)
    with policy.open("a") as out:
        out.write(f'\n[evidence]\nsigning_key_env = "LETHE_TEST_KEY"\n{anchors}\n')
    return policy


def _file_anchor(path: Path) -> str:
    return f'[[evidence.anchors]]\ntype = "file"\npath = "{path}"\n'


def _heads(lethe: Lethe) -> list[dict[str, Any]]:
    return [vars(h) for h in lethe.runtime.anchors.heads()]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _resign(lethe: Lethe) -> str:
    """The DBA's forgery, all of it: edit an event, recompute every hash after it, then sign
    every entry again with a fresh key registered in ``lethe_keys`` in place of the real one.
    Returns the fresh public key."""
    fresh = Signer(Ed25519PrivateKey.generate())
    with lethe.runtime.state.engine.begin() as conn:
        _reforge(conn)
        for seq, sealed in conn.execute(text("SELECT seq, hash FROM lethe_entries")).all():
            conn.execute(
                text("UPDATE lethe_entries SET signature = :s, key_id = :k WHERE seq = :n"),
                {"s": fresh.sign(sealed.encode("ascii")), "k": fresh.key_id, "n": seq},
            )
        conn.execute(text("DELETE FROM lethe_keys"))
        conn.execute(
            text("INSERT INTO lethe_keys VALUES (:k, :p, '2000-01-01T00:00:00+00:00')"),
            {"k": fresh.key_id, "p": fresh.public_key},
        )
    return fresh.public_key


def _roll_back_last_run(lethe: Lethe) -> None:
    """The DBA removes the newest run's head: its events and entry, the chain head moved back
    to the entry before, so the chain and its signatures verify again."""
    with lethe.runtime.state.engine.begin() as conn:
        last = conn.execute(text("SELECT max(seq) FROM lethe_entries")).scalar_one()
        prev = conn.execute(
            text("SELECT seq, hash, first_seq + count - 1 FROM lethe_entries WHERE seq = :n"),
            {"n": last - 1},
        ).one()
        conn.execute(text("DELETE FROM lethe_events WHERE entry = :n"), {"n": last})
        conn.execute(text("DELETE FROM lethe_entries WHERE seq = :n"), {"n": last})
        conn.execute(
            text("UPDATE lethe_chain SET seq = :s, hash = :h, entry = :e"),
            {"s": prev[2], "h": prev[1], "e": prev[0]},
        )


@pytest.fixture
def anchored(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Lethe, Path]]:
    """Two real runs anchored to a file: the first purges, the second only records its end."""
    heads = tmp_path / "anchor" / "heads.jsonl"
    heads.parent.mkdir()
    lethe = Lethe.from_file(_policy(sqlite_url, tmp_path, _file_anchor(heads)), env=ENV)
    for _ in range(2):
        result = lethe.run(as_of=NOW)
        assert result.errors == () and result.warnings == ()
    yield lethe, heads
    lethe.close()


def test_each_run_head_is_appended_to_the_file_as_the_ledger_has_it(
    anchored: tuple[Lethe, Path],
) -> None:
    lethe, heads = anchored
    ledger = _heads(lethe)
    assert [h["entry"] for h in ledger] == [4, 5]  # 3 batches, then each run's end
    assert all(h["signature"] and h["key_id"] for h in ledger)
    assert [
        {k: v for k, v in line.items() if k not in ("version", "kind")} for line in _lines(heads)
    ] == ledger
    assert lethe.runtime.ledger.entry(5)["hash"] == ledger[1]["hash"]  # type: ignore[index]
    report = lethe.verify_audit()
    assert report.ok, report.problems
    assert report.notes == (f"anchor file (file {heads}): all 2 run heads match",)


def test_a_dba_who_rewrites_and_re_signs_the_ledger_is_caught_by_the_file_anchor(
    anchored: tuple[Lethe, Path],
) -> None:
    lethe, _ = anchored
    runs = [h["run_id"] for h in _heads(lethe)]
    fresh = _resign(lethe)
    # Trusting the key the database now lists, the chain and its signatures verify:
    assert lethe.verify_audit((fresh,), anchors=False).ok
    problems = lethe.verify_audit((fresh,)).problems
    assert len(problems) == 2
    for run_id, problem in zip(runs, problems, strict=True):
        assert problem.startswith("anchor file (file ")
        assert f"run {run_id}'s head differs: anchored entry " in problem
        assert problem.endswith("(the ledger was rewritten)")


def test_a_run_after_the_rewrite_publishes_only_its_own_head(
    anchored: tuple[Lethe, Path],
) -> None:
    lethe, heads = anchored
    runs = [h["run_id"] for h in _heads(lethe)]
    fresh = _resign(lethe)
    third = lethe.run(as_of=NOW)
    assert third.warnings == ()
    # The rewritten heads are not anchored again (that would launder the forgery): only the
    # new run's head is added, and verify still names both rewritten runs.
    assert [line["run_id"] for line in _lines(heads)] == [*runs, third.run_id]
    problems = lethe.verify_audit((fresh, _public_of(SEED))).problems
    assert [p.split(" run ")[1].split("'s head differs")[0] for p in problems] == runs


def _public_of(seed: str) -> str:
    return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))).public_key


def test_a_rolled_back_run_is_named_by_the_anchor(anchored: tuple[Lethe, Path]) -> None:
    lethe, heads = anchored
    second = _heads(lethe)[1]
    _roll_back_last_run(lethe)
    assert lethe.verify_audit(anchors=False).ok  # the ledger alone cannot tell
    assert list(lethe.verify_audit().problems) == [
        f"anchor file (file {heads}): run {second['run_id']} "
        f"is anchored (entry 5, hash {second['hash']}) but the ledger has no head for it "
        "(the ledger was rolled back or rewritten)"
    ]


def test_a_head_missing_from_the_anchor_and_a_garbled_line_are_reported(
    anchored: tuple[Lethe, Path],
) -> None:
    lethe, heads = anchored
    first, _ = _heads(lethe)
    lines = heads.read_text().splitlines()
    heads.write_text("not json\n" + lines[1] + "\n")
    problems = lethe.verify_audit().problems
    assert (
        problems[0]
        == f"anchor file: file {heads} line 1: Expecting value: line 1 column 1 (char 0)"
    )
    assert problems[1] == (
        f"anchor file (file {heads}): run {first['run_id']}'s head (entry 4) is not anchored"
    )
    assert len(problems) == 2


def test_the_cli_names_the_run_and_exits_4(
    anchored: tuple[Lethe, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lethe, _ = anchored
    policy = str(lethe.settings.base_dir / "lethe.toml")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", policy, "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "run heads match" in out
    second = _heads(lethe)[1]
    _roll_back_last_run(lethe)
    assert main(["--config", policy, "audit", "verify", "--no-anchors"]) == 0
    capsys.readouterr()
    assert main(["--config", policy, "audit", "verify", "--json"]) == 4
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert [p for p in document["problems"] if second["run_id"] in p]


def test_an_unreachable_anchor_warns_and_the_next_run_catches_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    heads = tmp_path / "not-yet" / "heads.jsonl"  # no such directory: appending fails
    lethe = Lethe.from_file(_policy(sqlite_url, tmp_path, _file_anchor(heads)), env=ENV)
    try:
        first = lethe.run(as_of=NOW)
        assert first.status.value == "succeeded" and first.errors == ()
        (warning,) = first.warnings
        assert warning.startswith(f"anchor file: run {first.run_id}'s head not published (")
        assert "cannot append" in warning and warning.endswith("1 head(s) wait for the next run")
        assert lethe.run_record(first.run_id)["warnings"] == [warning]
        rows = lethe.runtime.anchors.rows("file")
        assert rows[first.run_id].status == "failed" and rows[first.run_id].attempts == 1
        problems = lethe.verify_audit().problems
        assert problems == (
            f"anchor file (file {heads}): run {first.run_id}'s head (entry 4) is not anchored "
            f"(publishing failed: {rows[first.run_id].error})",
        )
        heads.parent.mkdir()
        second = lethe.run(as_of=NOW)
        assert second.warnings == ()
        assert [line["run_id"] for line in _lines(heads)] == [first.run_id, second.run_id]
        assert lethe.runtime.anchors.rows("file")[first.run_id].attempts == 2
        assert lethe.verify_audit().ok
    finally:
        lethe.close()


def test_a_crash_between_the_head_commit_and_publishing_is_caught_up(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = tmp_path / "heads.jsonl"
    lethe = Lethe.from_file(_policy(sqlite_url, tmp_path, _file_anchor(heads)), env=ENV)
    try:
        with monkeypatch.context() as patch:  # the process dies right after the commit
            patch.setattr(type(lethe.runtime), "publish_heads", lambda self: [])
            first = lethe.run(as_of=NOW)
        assert not heads.exists()
        assert not lethe.verify_audit().ok
        second = lethe.run(as_of=NOW)
        assert [line["run_id"] for line in _lines(heads)] == [first.run_id, second.run_id]
        assert lethe.verify_audit().ok
    finally:
        lethe.close()


def test_dry_runs_publish_nothing(sqlite_url: str, tmp_path: Path) -> None:
    heads = tmp_path / "heads.jsonl"
    with Lethe.from_file(_policy(sqlite_url, tmp_path, _file_anchor(heads)), env=ENV) as lethe:
        lethe.run(as_of=NOW, dry_run=True)
    assert not heads.exists()


@pytest.mark.parametrize(
    ("anchors", "error"),
    [
        (
            _file_anchor(Path("a")) + _file_anchor(Path("b")),
            "evidence: two anchors named file: give each [[evidence.anchors]] a distinct name",
        ),
        ('[[evidence.anchors]]\ntype = "ftp"\n', "unknown type; use one of file, s3, webhook"),
        (
            '[[evidence.anchors]]\ntype = "s3"\nbucket = "abc"\nlock_days = 3\n',
            "evidence.anchors[0].s3: give lock_mode and lock_days together (or neither)",
        ),
        (
            '[[evidence.anchors]]\ntype = "webhook"\nurl = "ftp://x"\n',
            "a webhook url is http:// or https:// with a host",
        ),
    ],
)
def test_bad_anchors_are_refused_in_one_line(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], anchors: str, error: str
) -> None:
    policy = _policy(sqlite_url, tmp_path, anchors)
    assert main(["--config", str(policy), "check"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("lethe: error: ") and error in line, line


# -- S3 (moto in server mode) ---------------------------------------------------------------


@pytest.fixture
def bucket(s3_endpoint: str, s3_env: dict[str, str]) -> tuple[Any, str]:
    """A fresh bucket created with Object Lock enabled (and so versioned)."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"lethe-anchors-{os.getpid()}-{next(_buckets)}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return client, name


def _s3_anchor(endpoint: str, name: str, lock: bool = True) -> str:
    lines = [
        "[[evidence.anchors]]",
        'type = "s3"',
        f'bucket = "{name}"',
        'prefix = "census/"',
        f'endpoint = "{endpoint}"',
    ]
    if lock:
        lines += ['lock_mode = "COMPLIANCE"', "lock_days = 30"]
    return "\n".join(lines) + "\n"


def test_s3_heads_are_locked_objects_and_a_rewritten_ledger_is_caught(
    sqlite_url: str, tmp_path: Path, s3_endpoint: str, bucket: tuple[Any, str]
) -> None:
    client, name = bucket
    policy = _policy(sqlite_url, tmp_path, _s3_anchor(s3_endpoint, name))
    with Lethe.from_file(policy, env=ENV) as lethe:
        run = lethe.run(as_of=NOW)
        assert run.warnings == ()
        (head,) = _heads(lethe)
        key = f"census/{run.run_id}.json"
        stored = client.get_object(Bucket=name, Key=key)
        assert stored["ObjectLockMode"] == "COMPLIANCE"
        assert json.loads(stored["Body"].read())["hash"] == head["hash"]
        version = stored["VersionId"]
        assert lethe.runtime.anchors.rows("s3")[run.run_id].receipt == f"version {version}"
        assert lethe.verify_audit().notes == (
            f"anchor s3 (s3 {name}/census/): all 1 run heads match",
        )

        # Object Lock: the version cannot be deleted, even by whoever owns the bucket.
        with pytest.raises(ClientError) as refused:
            client.delete_object(Bucket=name, Key=key, VersionId=version)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"

        fresh = _resign(lethe)
        assert lethe.verify_audit((fresh,), anchors=False).ok
        (problem,) = lethe.verify_audit((fresh,)).problems
        assert problem.startswith(f"anchor s3 (s3 {name}/census/): run {run.run_id}'s head differs")

        # Writing the object again (a new version) or hiding it is reported; the locked first
        # version is still the one compared.
        forged = {**json.loads(client.get_object(Bucket=name, Key=key)["Body"].read())}
        forged["hash"] = lethe.runtime.anchors.heads()[0].hash
        client.put_object(Bucket=name, Key=key, Body=json.dumps(forged).encode())
        client.delete_object(Bucket=name, Key=key)
        problems = lethe.verify_audit((fresh,)).problems
        assert problems[0] == (
            f"anchor s3: s3 {name}/census/: {key} was written 2 times (an anchored head was "
            "overwritten); the first version counts"
        )
        assert problems[1] == (
            f"anchor s3: s3 {name}/census/: {key} was deleted (a delete marker hides it); "
            "its first version counts"
        )
        assert "head differs" in problems[2] and len(problems) == 3


def test_s3_unreachable_during_a_run_warns_and_the_next_run_catches_up(
    sqlite_url: str, tmp_path: Path, s3_endpoint: str, bucket: tuple[Any, str]
) -> None:
    client, name = bucket
    down = _s3_anchor("http://127.0.0.1:9", name, lock=False)  # the discard port: refused
    policy = _policy(sqlite_url, tmp_path, down)
    with Lethe.from_file(policy, env=ENV) as lethe:
        first = lethe.run(as_of=NOW)
        assert first.status.value == "succeeded"
        (warning,) = first.warnings
        assert warning.startswith(f"anchor s3: run {first.run_id}'s head not published (s3 ")
        assert "lethe-test-secret" not in warning
    policy.write_text(policy.read_text().replace("http://127.0.0.1:9", s3_endpoint))
    with Lethe.from_file(policy, env=ENV) as lethe:
        second = lethe.run(as_of=NOW)
        assert second.warnings == ()
        listed = client.list_objects_v2(Bucket=name, Prefix="census/")["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(
            f"census/{r.run_id}.json" for r in (first, second)
        )
        assert lethe.verify_audit().ok


# -- webhook (a real HTTP server on loopback) -----------------------------------------------


def _webhook_anchor(url: str) -> str:
    return f'[[evidence.anchors]]\ntype = "webhook"\nurl = "{url}"\nsecret_env = "ANCHOR_SECRET"\n'


def test_webhook_heads_are_signed_posts_recorded_as_delivered(
    sqlite_url: str, tmp_path: Path, hook: Hook
) -> None:
    policy = _policy(sqlite_url, tmp_path, _webhook_anchor(hook.url))
    with Lethe.from_file(policy, env=ENV) as lethe:
        hook.status = 503
        first = lethe.run(as_of=NOW)
        (warning,) = first.warnings
        assert "answered HTTP 503" in warning and "s3cr3t-path-token" not in warning
        assert hook.received() == []
        hook.status = 200
        second = lethe.run(as_of=NOW)
        assert second.warnings == ()
        bodies = hook.received()
        assert [b["run_id"] for b in bodies] == [first.run_id, second.run_id]
        assert bodies[1] == {"version": 1, "kind": "lethe.run_head", **_heads(lethe)[1]}
        for body, headers in zip(bodies, hook.headers, strict=True):
            raw = json.dumps(body, sort_keys=True).encode()
            mac = hmac.new(ENV["ANCHOR_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
            assert headers["X-Lethe-Signature"] == f"sha256={mac}"
        rows = lethe.runtime.anchors.rows("webhook")
        assert rows[first.run_id].receipt == "HTTP 200" and rows[first.run_id].attempts == 2
        report = lethe.verify_audit()
        assert report.ok
        assert report.notes == (
            "anchor webhook (webhook http://127.0.0.1:"
            f"{hook.url.split(':')[2].split('/')[0]}): 2 of 2 run heads delivered, not "
            "checkable (a webhook cannot be read back: compare with what its receiver kept)",
        )
        _resign(lethe)
        problems = lethe.verify_audit().problems
        assert [p for p in problems if "was delivered with hash" in p and first.run_id in p]


def test_a_webhook_secret_env_that_is_not_set_warns_and_does_not_fail_the_run(
    sqlite_url: str, tmp_path: Path, hook: Hook
) -> None:
    policy = _policy(sqlite_url, tmp_path, _webhook_anchor(hook.url))
    with Lethe.from_file(policy, env={"LETHE_TEST_KEY": SEED}) as lethe:
        run = lethe.run(as_of=NOW)
        assert run.status.value == "succeeded"
        (warning,) = run.warnings
        assert warning.startswith(f"anchor webhook: run {run.run_id}'s head not published (")
        assert "environment variable ANCHOR_SECRET (secret_env) is not set" in warning
        assert hook.received() == []
        # verify needs no secret: it names the head that was not delivered
        (problem,) = lethe.verify_audit().problems
        assert (
            f"run {run.run_id}'s head (entry 4) was not delivered (publishing failed: " in problem
        )
        assert problem.endswith("environment variable ANCHOR_SECRET (secret_env) is not set)")


# -- PostgreSQL state -----------------------------------------------------------------------


def test_anchoring_with_postgresql_state(pg_url: str, tmp_path: Path) -> None:
    heads = tmp_path / "heads.jsonl"
    policy = _policy(pg_url, tmp_path, _file_anchor(heads) + f'\n[state]\nurl = "{pg_url}"\n')
    with Lethe.from_file(policy, env=ENV) as lethe:
        for _ in range(2):
            assert lethe.run(as_of=NOW).warnings == ()
        assert len(_lines(heads)) == 2 and lethe.verify_audit().ok
        second = _heads(lethe)[1]
        _roll_back_last_run(lethe)
        (problem,) = lethe.verify_audit().problems
        assert f"run {second['run_id']} is anchored (entry 5" in problem


def test_a_bug_in_an_anchor_does_not_fail_the_run(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: FileAnchor, head: Head) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(FileAnchor, "publish", broken)
    policy = _policy(sqlite_url, tmp_path, _file_anchor(tmp_path / "heads.jsonl"))
    with Lethe.from_file(policy, env=ENV) as lethe:
        run = lethe.run(as_of=NOW)
        assert run.status.value == "succeeded"
        assert lethe.run_record(run.run_id)["status"] == "succeeded"
        (warning,) = run.warnings
        assert "head not published (unexpected RuntimeError: boom)" in warning


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_heads_strategy = st.lists(
    st.builds(
        Head,
        run_id=_texts,
        entry=st.integers(1, 2**62),
        hash=st.text("0123456789abcdef", min_size=64, max_size=64),
        signature=st.none() | _texts,
        key_id=st.none() | _texts,
        ts=_texts,
    ),
    max_size=8,
)


@given(heads=_heads_strategy)
@settings(max_examples=60, deadline=None)
def test_the_file_anchor_reads_back_exactly_what_it_appended(heads: list[Head]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        anchor = FileAnchor("file", Path(directory) / "heads.jsonl")
        for head in heads:
            assert anchor.publish(head) == "appended"
        reading = anchor.read()
    assert reading.problems == [] and reading.heads == heads


def test_s3_publishing_one_run_twice_keeps_the_first_head(
    s3_endpoint: str, bucket: tuple[Any, str]
) -> None:
    client, name = bucket
    anchor = S3AnchorConfig(bucket=name, endpoint=s3_endpoint, prefix="p/").build(Path(), {})
    head = Head("run-1", 4, "ab" * 32, None, None, "2026-12-03T12:00:00+00:00")
    try:
        assert anchor.publish(head).startswith("version ")
        assert anchor.publish(head) == "already anchored"  # a retry after a crash
        with pytest.raises(AnchorError, match=r"p/run-1\.json already holds a different head"):
            anchor.publish(Head("run-1", 4, "cd" * 32, None, None, head.ts))
        versions = client.list_object_versions(Bucket=name, Prefix="p/")["Versions"]
        assert len(versions) == 1
        assert anchor.read().heads == [head]
    finally:
        anchor.close()


def _anchor_findings(lethe: Lethe) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in lethe.check().findings if "anchor" in f.message]


def test_check_says_whether_each_anchor_can_work_without_writing(
    sqlite_url: str, tmp_path: Path, s3_endpoint: str, bucket: tuple[Any, str], hook: Hook
) -> None:
    client, locked = bucket
    plain = f"{locked}-plain"
    client.create_bucket(Bucket=plain)
    anchors = (
        _file_anchor(tmp_path / "heads.jsonl")
        + 'name = "file-ok"\n'
        + _file_anchor(tmp_path / "missing" / "heads.jsonl")
        + 'name = "file-bad"\n'
        + _s3_anchor(s3_endpoint, locked)
        + 'name = "locked"\n'
        + _s3_anchor(s3_endpoint, plain)
        + 'name = "not-lockable"\n'
        + _s3_anchor("http://127.0.0.1:9", plain, lock=False)
        + 'name = "down"\n'
        + _webhook_anchor(hook.url)
    )
    with Lethe.from_file(_policy(sqlite_url, tmp_path, anchors), env=ENV) as lethe:
        found = _anchor_findings(lethe)
    assert found[:4] == [
        ("ok", f"anchor file-ok: file {tmp_path}/heads.jsonl: will be created on the first head"),
        (
            "error",
            f"anchor file-bad: file {tmp_path}/missing/heads.jsonl: its directory "
            f"{tmp_path}/missing cannot be written",
        ),
        (
            "ok",
            f"anchor locked: s3 {locked}/census/: reachable, Object Lock COMPLIANCE 30 days "
            "per head",
        ),
        (
            "error",
            f"anchor not-lockable: s3 {plain}/census/: lock_mode is set but the bucket has no "
            "Object Lock (enable it when creating the bucket, or drop lock_mode and lock_days)",
        ),
    ]
    assert found[4][0] == "warning" and found[4][1].startswith(
        "anchor down: cannot reach the bucket: s3 "
    )
    assert found[5] == (
        "ok",
        f"anchor webhook: webhook {hook.url.rsplit('/hooks', 1)[0]}: configured (not "
        "contacted: a POST would publish)",
    )
    assert len(found) == 6
    assert not (tmp_path / "heads.jsonl").exists() and hook.received() == []
    assert client.list_objects_v2(Bucket=locked).get("KeyCount", 0) == 0


@contextmanager
def _evidence_store() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A receiver on loopback that keeps each POSTed head and lists them all on GET."""
    kept: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            kept.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._answer(b"")

        def do_GET(self) -> None:
            self._answer(json.dumps(kept).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/heads", kept
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_webhook_with_a_read_url_is_checked_like_any_anchor(
    sqlite_url: str, tmp_path: Path
) -> None:
    with _evidence_store() as (url, kept):
        anchors = f'[[evidence.anchors]]\ntype = "webhook"\nurl = "{url}"\nread_url = "{url}"\n'
        with Lethe.from_file(_policy(sqlite_url, tmp_path, anchors), env=ENV) as lethe:
            first, second = (lethe.run(as_of=NOW) for _ in range(2))
            assert [h["run_id"] for h in kept] == [first.run_id, second.run_id]
            where = f"anchor webhook (webhook {url.rsplit('/', 1)[0]})"
            assert lethe.verify_audit().notes == (f"{where}: all 2 run heads match",)
            fresh = _resign(lethe)
            problems = lethe.verify_audit((fresh,)).problems
            assert [p.split(" run ")[1].split("'s head")[0] for p in problems] == [
                first.run_id,
                second.run_id,
            ]
            assert all(p.startswith(f"{where}: ") and "head differs" in p for p in problems)
            del kept[1]  # the receiver lost a head
            assert f"{where}: run {second.run_id}'s head (entry 5) is not anchored" in (
                lethe.verify_audit((fresh,)).problems
            )


def test_a_certificate_says_whether_its_run_head_was_anchored(
    sqlite_url: str, tmp_path: Path
) -> None:
    from lethe.evidence.certificate import certificate_body

    heads = tmp_path / "later" / "heads.jsonl"  # not there yet: the first run's head fails
    lethe = Lethe.from_file(_policy(sqlite_url, tmp_path, _file_anchor(heads)), env=ENV)
    try:
        first = lethe.run(as_of=NOW)

        def anchors() -> list[dict[str, Any]]:
            body = certificate_body(lethe.runtime, lethe.run_record(first.run_id))
            return list(body["verification"]["anchors"])

        [failed] = anchors()
        assert (failed["name"], failed["type"], failed["status"]) == ("file", "file", "failed")
        assert failed["published_at"] is None
        heads.parent.mkdir()
        lethe.run(as_of=NOW)  # catches the first head up
        [anchored] = anchors()
        assert anchored["status"] == "anchored" and anchored["published_at"]
        _resign(lethe)  # the ledger rewritten after the head was anchored
        assert anchors()[0]["status"] == "different head"
    finally:
        lethe.close()
