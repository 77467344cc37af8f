"""Signed ledger entries: a database administrator who edits the ledger and recomputes the
unkeyed chain cannot re-sign it, removes a signature visibly, and cannot swap in their key.

Each case runs with the state in its own database and colocated in the application's, on
SQLite and on PostgreSQL (where the state's columns are typed by the server, not SQLite's
affinity), and ``lethe audit verify`` says the same as the ledger."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, text

from lethe import Lethe
from lethe.cli.app import main
from lethe.evidence.signing import Signer, key_id, verify_signature
from lethe.state import digest
from lethe.state.digest import FIELDS
from tests.support.apps import NOW
from tests.support.crash import purge_census

SEED = base64.b64encode(bytes(range(32))).decode("ascii")


def _policy(app_url: str, state_url: str, directory: Path) -> Path:
    policy = purge_census(app_url, directory, surveys=30, responses=1, batch_size=10, due=NOW)
    with policy.open("a") as out:
        out.write('\n[evidence]\nsigning_key_env = "LETHE_TEST_KEY"\n')
        out.write(f'\n[state]\nurl = "{state_url}"\n')
    return policy


#: Where the application's data and lethe's state live, per case.
PLACES = ["sqlite-separate", "sqlite-colocated", "postgresql-separate", "postgresql-colocated"]


@pytest.fixture(params=PLACES)
def signed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lethe]:
    """30 surveys purged in 3 signed batches (entries 1–3) and the run's end (entry 4)."""
    backend, place = str(request.param).split("-")
    sqlite = f"sqlite:///{tmp_path / 'app.db'}"
    server = str(request.getfixturevalue("pg_url")) if backend == "postgresql" else None
    if place == "colocated":
        app_url = state_url = server or sqlite
    else:  # PostgreSQL state beside a SQLite application, or two SQLite files
        app_url, state_url = sqlite, server or f"sqlite:///{tmp_path / 'state.db'}"
    lethe = Lethe.from_file(_policy(app_url, state_url, tmp_path), env={"LETHE_TEST_KEY": SEED})
    assert lethe.run(as_of=NOW).errors == ()
    yield lethe
    lethe.close()


def _public(lethe: Lethe) -> str:
    signer = lethe.runtime.state.signer
    assert signer is not None
    return signer.public_key


def _tamper(lethe: Lethe, sql: str, **params: object) -> list[str]:
    with lethe.runtime.state.engine.begin() as conn:
        conn.execute(text(sql), params)
    return list(lethe.runtime.ledger.verify().problems)


def _reforge(conn: Connection) -> None:
    """Edit event 15 and recompute every leaf, root and entry hash after it, as a DBA who
    knows the format (but not the key) would: the unkeyed chain verifies again."""
    conn.execute(text("UPDATE lethe_events SET item_key = '999' WHERE seq = 15"))
    events = conn.execute(text("SELECT * FROM lethe_events ORDER BY seq")).mappings().all()
    entries = conn.execute(text("SELECT * FROM lethe_entries ORDER BY seq")).mappings().all()
    leaves: dict[int, list[str]] = {}
    leaves_by_seq: dict[int, str] = {}
    for row in events:
        leaf = digest.leaf_hash(
            digest.canonical(2, row["seq"], row["ts"], [row[f] for f in FIELDS], row["details"])
        ).hex()
        leaves.setdefault(row["entry"], []).append(leaf)
        leaves_by_seq[row["seq"]] = leaf
        conn.execute(
            text("UPDATE lethe_events SET hash = :h WHERE seq = :s"), {"h": leaf, "s": row["seq"]}
        )
    prev = digest.GENESIS
    for e in entries:
        root = digest.merkle_root([bytes.fromhex(h) for h in leaves[e["seq"]]]).hex()
        sealed = digest.entry_hash(
            digest.entry_canonical(
                e["seq"], e["first_seq"], e["count"], e["ts"], e["batch_id"], root, prev
            )
        )
        conn.execute(
            text("UPDATE lethe_entries SET root = :r, hash = :h, prev_hash = :p WHERE seq = :n"),
            {"r": root, "h": sealed, "p": prev, "n": e["seq"]},
        )
        link = prev
        for row in events:
            if row["entry"] == e["seq"]:
                conn.execute(
                    text("UPDATE lethe_events SET prev_hash = :p WHERE seq = :s"),
                    {"p": link, "s": row["seq"]},
                )
                link = leaves_by_seq[row["seq"]]
        prev = sealed
    conn.execute(text("UPDATE lethe_chain SET hash = :h"), {"h": prev})


def test_every_entry_is_signed_and_verifies(signed: Lethe) -> None:
    public = _public(signed)
    with signed.runtime.state.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM lethe_entries ORDER BY seq")).mappings().all()
        keys = conn.execute(text("SELECT key_id, public_key FROM lethe_keys")).all()
    assert len(rows) == 4
    assert keys == [(key_id(public), public)]
    for row in rows:
        assert row["key_id"] == key_id(public)
        assert verify_signature(public, row["hash"].encode("ascii"), row["signature"])
    assert signed.runtime.ledger.verify().ok
    assert signed.runtime.ledger.verify((public,)).ok
    head = signed.runtime.ledger.entry(4)
    assert head is not None and head["hash"] == signed.runtime.ledger.verify().head
    assert head["first_seq"] == 31 and head["count"] == 1 and head["batch_id"] is None
    assert signed.runtime.ledger.entry_for_event(15) == signed.runtime.ledger.entry(2)
    assert signed.runtime.ledger.entry(99) is None


def test_a_recomputed_chain_without_the_key_fails_its_signatures(signed: Lethe) -> None:
    with signed.runtime.state.engine.begin() as conn:
        _reforge(conn)
    problems = list(signed.runtime.ledger.verify().problems)
    # The unkeyed chain is consistent again: only the signatures give the forgery away,
    # from the edited batch's entry on, the run head included.
    assert problems[0].startswith("entry 2 (batch ")
    assert problems[0].endswith(
        "events 11–20: signature by key " + key_id(_public(signed)) + " does not verify"
    )
    assert [p.split(":")[0].split(" (")[0] for p in problems] == ["entry 2", "entry 3", "entry 4"]
    assert problems[2].startswith("entry 4 (run-level), events 31–31")


def test_editing_the_run_head_entry_is_reported(signed: Lethe) -> None:
    problems = _tamper(
        signed,
        "UPDATE lethe_entries SET signature = "
        "(SELECT signature FROM lethe_entries WHERE seq = 1) WHERE seq = 4",
    )
    assert problems == [
        f"entry 4 (run-level), events 31–31: signature by key {key_id(_public(signed))} "
        "does not verify"
    ]


def test_removing_signatures_is_reported(signed: Lethe) -> None:
    problems = _tamper(
        signed, "UPDATE lethe_entries SET signature = NULL, key_id = NULL WHERE seq >= 3"
    )
    assert len(problems) == 2
    assert problems[0].startswith("entry 3 (batch ") and problems[0].endswith(
        "unsigned after signing began (signature removed)"
    )
    assert (
        problems[1]
        == "entry 4 (run-level), events 31–31: unsigned after signing began (signature removed)"
    )


def test_removing_every_signature_is_reported_while_the_key_record_stays(signed: Lethe) -> None:
    problems = _tamper(signed, "UPDATE lethe_entries SET signature = NULL, key_id = NULL")
    assert len(problems) == 4


def test_a_key_that_is_not_trusted_is_reported(signed: Lethe) -> None:
    stranger = Signer(Ed25519PrivateKey.generate()).public_key
    problems = list(signed.runtime.ledger.verify((stranger,)).problems)
    assert len(problems) == 4
    assert (
        problems[-1]
        == f"entry 4 (run-level), events 31–31: signed by key {key_id(_public(signed))}, "
        "which is not trusted"
    )


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_verify_names_the_batch_a_forgery_or_a_removal_broke(
    signed: Lethe,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LETHE_TEST_KEY", SEED)
    policy = str(tmp_path / "lethe.toml")
    code, out, err = _cli(capsys, "-c", policy, "audit", "verify")
    assert (code, err) == (0, ""), out
    assert out.startswith("Audit chain verifies: 31 events, head ")
    entry = signed.runtime.ledger.entry(2)
    assert entry is not None and entry["batch_id"]
    with signed.runtime.state.engine.begin() as conn:
        _reforge(conn)
    code, out, _ = _cli(capsys, "-c", policy, "audit", "verify", "--json")
    report = json.loads(out)
    assert code == 4 and not report["ok"]
    assert report["problems"][0] == (
        f"entry 2 (batch {entry['batch_id']}), events 11–20: signature by key "
        f"{key_id(_public(signed))} does not verify"
    )
    stranger = Signer(Ed25519PrivateKey.generate()).public_key
    code, out, _ = _cli(capsys, "-c", policy, "audit", "verify", "--key", stranger)
    assert code == 4 and out.count("which is not trusted") == 4, out
    _tamper(signed, "UPDATE lethe_entries SET signature = NULL, key_id = NULL WHERE seq = 1")
    code, out, _ = _cli(capsys, "-c", policy, "audit", "verify")
    assert code == 4
    assert out.splitlines()[0].startswith("✗ entry 1 (batch ")
    assert out.splitlines()[0].endswith("unsigned after signing began (signature removed)")


def test_audit_key_prints_the_public_key_and_new_writes_a_private_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str
) -> None:
    target = tmp_path / "lethe.key"
    code, out, _ = _cli(capsys, "audit", "key", "--new", str(target))
    assert code == 0, out
    assert os.stat(target).st_mode & 0o777 == 0o600
    public = out.split()[1]
    assert out.split()[3] == key_id(public)
    before = target.read_bytes()
    code, out, err = _cli(capsys, "audit", "key", "--new", str(target))
    assert code == 2 and not out and err.count("\n") == 1 and "already exists" in err
    assert target.read_bytes() == before
    policy = purge_census(sqlite_url, tmp_path, surveys=1, responses=1, batch_size=10, due=NOW)
    code, out, err = _cli(capsys, "--config", str(policy), "audit", "key")
    assert code == 2 and err.count("\n") == 1 and "no signing key configured" in err
    with policy.open("a") as out_file:
        out_file.write(f'\n[evidence]\nsigning_key_file = "{target}"\n')
    code, out, err = _cli(capsys, "--config", str(policy), "audit", "key")
    assert code == 0, err
    assert out.split()[1] == public and public not in err
    assert "PRIVATE" not in out
