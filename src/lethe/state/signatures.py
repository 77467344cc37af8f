"""Checking the ledger's entry signatures (docs/ledger.md "Signatures").

Anyone who can write to the state database can recompute the unkeyed chain after an edit; they
cannot sign the recomputed entry hashes without the private key. So verify reports, per entry:
a signature that does not verify, a signature by a key that is not trusted, and an entry left
unsigned after signing began (a signature removed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from lethe.evidence.signing import key_id, verify_signature
from lethe.state.schema import entries, keys

__all__ = ["signature_problems"]


def _where(row: Mapping[str, Any]) -> str:
    """``entry N (batch B), events F–L``: what verify names an entry by."""
    batch = f" (batch {row['batch_id']})" if row["batch_id"] else " (run-level)"
    last = int(row["first_seq"]) + int(row["count"]) - 1
    return f"entry {row['seq']}{batch}, events {row['first_seq']}–{last}"


def signature_problems(conn: Connection, trusted: Collection[str] = ()) -> list[str]:
    """One line per entry whose signature fails, is by an untrusted key or is missing after
    signing began. ``trusted`` are base64 public keys; empty trusts every key recorded in
    ``lethe_keys`` (which a database administrator could add to: pass the key to be sure)."""
    recorded = {
        str(r.key_id): (str(r.public_key), str(r.first_seen)) for r in conn.execute(select(keys))
    }
    trusted_ids = {key_id(k): k for k in trusted}
    began = min((seen for _, seen in recorded.values()), default=None)
    problems: list[str] = []
    signing = False
    query = select(entries).order_by(entries.c.seq).execution_options(yield_per=1000)
    for row in conn.execute(query).mappings():
        entry = dict(row)
        signature, kid = entry["signature"], entry["key_id"]
        if signature is None:
            if signing or (began is not None and str(entry["ts"]) >= began):
                problems.append(
                    f"{_where(entry)}: unsigned after signing began (signature removed)"
                )
            continue
        signing = True
        if trusted_ids and kid not in trusted_ids:
            problems.append(f"{_where(entry)}: signed by key {kid}, which is not trusted")
            continue
        public = trusted_ids.get(str(kid)) or recorded.get(str(kid), (None, ""))[0]
        if public is None:
            problems.append(f"{_where(entry)}: signed by key {kid}, which lethe_keys does not list")
        elif not verify_signature(public, str(entry["hash"]).encode("ascii"), str(signature)):
            problems.append(f"{_where(entry)}: signature by key {kid} does not verify")
    return problems
