"""Per-item receipts (``lethe evidence item DATASET KEY``): what happened to one item, provable
from the receipt alone.

A receipt's body carries, for each audit event about the item (its deletion, its cascaded rows'
counts in the event's details, its files' deletions, holds that stopped it), the event's
canonical text, its leaf hash, the audit path from that leaf to its entry's Merkle root, and the
entry itself (``seq``, ``first_seq``, ``count``, ``ts``, ``batch_id``, ``root``, ``prev_hash``,
``hash``; its Ed25519 signature and public key when the ledger signs entries). The check
registered for ``lethe.receipt`` recomputes leaf → root → entry hash → signature with the
functions the ledger itself uses (:mod:`lethe.state.digest`) and compares the facts the receipt
states (when, which run, policy, action, cascade) with the proved text, so a verifier needs no
other part of the ledger. An item not deleted yet gets a receipt saying when it will go and what
blocks it: the facts of ``lethe explain``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lethe.errors import NotFoundError
from lethe.evidence.documents import register
from lethe.evidence.signing import key_id, verify_signature
from lethe.state import digest
from lethe.state.schema import entries, events, keys, runs

if TYPE_CHECKING:
    from lethe.engine.explain import Explanation
    from lethe.engine.runtime import Runtime

__all__ = ["KIND", "check_receipt", "receipt_body"]

#: The document kind of a receipt.
KIND = "lethe.receipt"
#: The body's own format.
RECEIPT_VERSION = 1
#: Events that mean the item's row is gone (soft deletion keeps it).
_GONE = ("hard_deleted", "orphan_deleted")
_MEMBERS = {"receipt_version", "dataset", "key", "as_of", "events", "status"}
#: The member each status adds.
_BY_STATUS: dict[Any, str] = {"deleted": "deletion", "pending": "pending", "held": "pending"}


def receipt_body(
    rt: Runtime, dataset: str, typed: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """The receipt of item ``typed`` of ``dataset`` (its key as ``explain`` takes it), at
    ``as_of``. :class:`NotFoundError` when lethe has never seen the item (no row, no event)."""
    from lethe.engine.explain import explain  # the engine only when issuing, not verifying

    as_of = as_of or rt.state.now()  # one instant for the whole receipt
    found = explain(rt, dataset, typed, as_of)
    if not found.exists and not found.history:
        raise NotFoundError(f"{dataset} item {found.key}: no such item and no audit event names it")
    proved = [_proof(rt, event) for event in found.history if event.get("v", 1) >= 2]
    body: dict[str, Any] = {
        "receipt_version": RECEIPT_VERSION,
        "dataset": dataset,
        "key": found.key,
        "as_of": as_of.isoformat(),
        "events": proved,
    }
    gone = [e for e in proved if e["event"] in _GONE]
    if not found.exists and gone:
        body["status"] = "deleted"
        body["deletion"] = _deletion(rt, dataset, gone[-1], proved)
    elif not found.exists:
        body["status"] = "absent"  # gone from the store without a deletion lethe audited
    else:
        body["status"] = "held" if found.blocked else "pending"
        body["pending"] = _pending(found)
    return body


def _deletion(
    rt: Runtime, dataset: str, event: Mapping[str, Any], proved: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What the deleting event says, with what its run recorded about the policy."""
    with rt.state.read() as conn:
        record = conn.execute(select(runs.c.record).where(runs.c.id == event["run_id"])).scalar()
    record = record if isinstance(record, dict) else {}
    config = rt.config.datasets.get(dataset)
    # The application's hold table as the policy names it (None: lethe's registry alone).
    holds_table = None
    if config is not None and config.holds is not None:
        holds_table = config.holds.model_dump(mode="json", exclude_none=True)
    return {
        **_proved_facts(event, proved),
        "policy_hash": record.get("policyHash"),
        "run_status": record.get("status"),
        "audit_head_after_run": record.get("auditHead"),
        "holds_checked": {
            "registry": "lethe's hold registry (lethe hold)",
            "table": holds_table,
            "outcome": "no active hold on the item when its batch ran (a held item is skipped "
            "and audited skipped_hold instead)",
            **_proved_holds(proved),
        },
    }


def _proved_facts(event: Mapping[str, Any], proved: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The deletion's members that its proved events state: the deleting event's own facts
    (its cascaded, updated and linked rows from its details) and the item's file events.
    Issuing and checking both derive them here, so a receipt states nothing of them that
    its proofs do not."""
    details = event["details"]
    return {
        "at": event["ts"],
        "event": event["event"],
        "run_id": event["run_id"],
        "policy": event["policy"],
        "phase": event["phase"],
        "cascade": details.get("cascade", {}),
        "updated": details.get("updated", {}),
        "linked": details.get("linked", {}),
        "files": [
            {"event": e["event"], "at": e["ts"], "details": e["details"]}
            for e in proved
            if e["event"] in ("file_deleted", "file_not_deleted")
        ],
    }


def _proved_holds(proved: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The item's hold history as its proved events state it."""
    return {
        "held_before": [e["ts"] for e in proved if e["event"] == "skipped_hold"],
        # Holds placed on this very key (a prefix hold is audited under its prefix).
        "registry_history": [
            {"event": e["event"], "at": e["ts"], "hold_id": e["details"].get("hold_id")}
            for e in proved
            if e["event"] in ("hold_placed", "hold_released")
        ],
    }


def _pending(found: Explanation) -> dict[str, Any]:
    """The facts ``lethe explain`` gives for an item still there."""
    return {
        "blocked": found.blocked,
        "held_by_table": found.held_by_table,
        "holds": [
            {
                "id": h.id,
                "reason": h.reason,
                "placed_by": h.placed_by,
                "placed_at": _iso(h.placed_at),
            }
            for h in found.registry_holds
        ],
        "phases": [
            {
                "policy": v.policy,
                "phase": v.phase,
                "action": v.action,
                "selected_now": v.selected_now,
                "from": _iso(v.from_instant),
                "unmet": list(v.unmet),
                "waits_for": v.waits_for,
                "partition": v.partition,
            }
            for v in found.verdicts
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _proof(rt: Runtime, event: Mapping[str, Any]) -> dict[str, Any]:
    """One event, its canonical text and its inclusion proof in its entry."""
    with rt.state.read() as conn:
        entry = (
            conn.execute(select(entries).where(entries.c.seq == event["entry"])).mappings().one()
        )
        stored = conn.execute(select(events).where(events.c.seq == event["seq"])).mappings().one()
        leaves = [
            bytes.fromhex(h)
            for h in conn.execute(
                select(events.c.hash).where(events.c.entry == entry["seq"]).order_by(events.c.seq)
            ).scalars()
        ]
    fields = [stored[name] for name in digest.FIELDS]
    text = digest.canonical(
        int(stored["v"]), int(stored["seq"]), stored["ts"], fields, stored["details"]
    )
    index = int(stored["seq"]) - int(entry["first_seq"])
    sealed: dict[str, Any] = {
        name: entry[name]
        for name in ("seq", "first_seq", "count", "ts", "batch_id", "root", "prev_hash", "hash")
    }
    signature = entry.get("signature")
    if signature:
        sealed["signature"] = signature
        sealed["key_id"] = entry.get("key_id")
        sealed["public_key"] = _public_key(rt, entry.get("key_id"))
    return {
        "seq": stored["seq"],
        "ts": stored["ts"],
        "event": stored["event"],
        "run_id": stored["run_id"],
        "policy": stored["policy"],
        "phase": stored["phase"],
        "details": json.loads(stored["details"]),
        "canonical": text,
        "leaf": digest.leaf_hash(text).hex(),
        "index": index,
        "path": [h.hex() for h in digest.audit_path(leaves, index)],
        "entry": sealed,
    }


def _public_key(rt: Runtime, wanted: Any) -> str | None:
    """The public key of ``wanted`` (a key id): from the ledger's record of every key that
    signed (``lethe_keys``), else the configured signer's when it is that key."""
    with rt.state.read() as conn:
        known = conn.execute(select(keys.c.public_key).where(keys.c.key_id == str(wanted))).first()
    if known is not None and key_id(str(known.public_key)) == wanted:
        return str(known.public_key)
    signer = rt.state.signer
    if signer is not None and signer.key_id == wanted:
        return signer.public_key
    return None


def check_receipt(body: Mapping[str, Any]) -> list[str]:
    """Recompute every proof in a receipt's body; the problems found (empty: it holds)."""
    problems: list[str] = []
    members = _MEMBERS | {_BY_STATUS.get(body.get("status"), "")} - {""}
    if body.get("status") not in ("deleted", "pending", "held", "absent"):
        problems.append(f"unknown receipt status {body.get('status')!r}")
    if set(body) != members:
        problems.append(f"the receipt's members are not {sorted(members)}")
    proved = body.get("events")
    if not isinstance(proved, list):
        return ["the receipt lists no events"]
    for number, event in enumerate(proved):
        try:
            problems += [
                f"event {event.get('seq', number)}: {p}" for p in _check_event(body, event)
            ]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            problems.append(f"event {number}: malformed proof ({type(exc).__name__}: {exc})")
    deletion = body.get("deletion")
    if body.get("status") == "deleted":
        if not isinstance(deletion, dict):
            return [*problems, "a deleted receipt without its deletion"]
        try:
            problems += _check_deletion(deletion, proved)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"the deletion is malformed ({type(exc).__name__}: {exc})")
    return problems


#: The members of a deletion that name its deleting event.
_IDENTITY = ("event", "at", "run_id", "policy", "phase")


def _check_deletion(deletion: Mapping[str, Any], proved: Sequence[Any]) -> list[str]:
    """The deletion stated is one of the proved deleting events, and every member derived
    from proved events (cascade, files, hold history, …) is what they say."""
    events = [e for e in proved if isinstance(e, dict)]
    candidates = [
        facts
        for facts in (_proved_facts(e, events) for e in events if e.get("event") in _GONE)
        if all(facts[name] == deletion.get(name) for name in _IDENTITY)
    ]
    if deletion.get("event") not in _GONE or not candidates:
        return ["the deletion stated is not one of the proved events"]
    facts = candidates[-1]
    wrong = [name for name in facts if name not in _IDENTITY and facts[name] != deletion.get(name)]
    held = deletion.get("holds_checked")
    history = _proved_holds(events)
    if not isinstance(held, dict):
        wrong.append("holds_checked")
    else:
        wrong += [f"holds_checked.{n}" for n in history if held.get(n) != history[n]]
    if wrong:
        return [f"the deletion's {', '.join(wrong)} differ from what its proved events say"]
    return []


def _check_event(body: Mapping[str, Any], event: Mapping[str, Any]) -> list[str]:
    text = event["canonical"]
    head, details = text.split("\n", 1)
    values = json.loads(head)
    if len(values) != 3 + len(digest.FIELDS) or values[0] != 2:
        return ["its canonical text is not a format-2 event"]
    named = dict(zip(digest.FIELDS, values[3:], strict=True))
    stated = {
        "seq": event["seq"] == values[1],
        "ts": event["ts"] == values[2],
        "dataset": body.get("dataset") == named["dataset"],
        "key": body.get("key") == named["item_key"],
        "event": event["event"] == named["event"],
        "run_id": event["run_id"] == named["run_id"],
        "policy": event["policy"] == named["policy"],
        "phase": event["phase"] == named["phase"],
        "details": event["details"] == json.loads(details),
    }
    wrong = [name for name, same in stated.items() if not same]
    if wrong:
        return [f"{', '.join(wrong)} stated differ from the proved event text"]
    leaf = digest.leaf_hash(text)
    if leaf.hex() != event["leaf"]:
        return ["its leaf hash is not the hash of its text"]
    sealed = event["entry"]
    if event["index"] != event["seq"] - sealed["first_seq"] or event["index"] >= sealed["count"]:
        return ["its place in the entry does not match the entry's events"]
    path = [bytes.fromhex(h) for h in event["path"]]
    root = digest.root_from_path(leaf, event["index"], sealed["count"], path)
    if root.hex() != sealed["root"]:
        return ["its audit path does not lead to its entry's root"]
    canonical = digest.entry_canonical(
        sealed["seq"],
        sealed["first_seq"],
        sealed["count"],
        sealed["ts"],
        sealed["batch_id"],
        sealed["root"],
        sealed["prev_hash"],
    )
    if digest.entry_hash(canonical) != sealed["hash"]:
        return ["its entry's fields do not hash to the entry's hash"]
    signature = sealed.get("signature")
    if signature is not None:
        public = sealed.get("public_key")
        if not isinstance(public, str):
            return ["its entry is signed, but the receipt carries no public key"]
        if not verify_signature(public, sealed["hash"].encode("ascii"), signature):
            return ["its entry's signature does not match the entry's hash"]
        if sealed.get("key_id") != key_id(public):
            return ["its entry's key_id is not its public key's"]
    return []


register(KIND, check_receipt)
