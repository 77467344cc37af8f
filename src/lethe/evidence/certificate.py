"""Deletion certificates (``lethe evidence run RUN_ID``): what one run did, for an auditor.

Modelled on NIST SP 800-88's sample certificate of sanitization: what (datasets, their
category, tables/prefixes/patterns and counts per action), where (stores by scheme and host,
never credentials), method per phase (row deletion, soft delete, update, object deletion, key
unlink, partition drop), tool and version, who (organisation and system from ``[evidence]``),
when (start and end) and verification (the audit chain checked at issue, the run's head
entry and its signature, the items overdue under the run's policies at issue, counted by
:func:`lethe.evidence.attest.attest`). A dry run gets a certificate marked ``dry_run`` whose
statement says nothing was deleted. The check registered for ``lethe.certificate`` validates
the body's structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lethe import __version__, secrets
from lethe.evidence.attest import attest
from lethe.evidence.documents import register
from lethe.evidence.records import _what, _where
from lethe.state.anchors import AnchorLog
from lethe.state.schema import entries

if TYPE_CHECKING:
    from lethe.engine.runtime import Runtime

__all__ = ["DRY_RUN_STATEMENT", "KIND", "STATEMENT", "certificate_body", "check_certificate"]

KIND = "lethe.certificate"
CERTIFICATE_VERSION = 1
STATEMENT = "The items counted below were deleted or changed by this run."
DRY_RUN_STATEMENT = "DRY RUN - nothing deleted: the counts are what the run would have changed."
_REQUIRED = {
    "certificate_version", "run_id", "dry_run", "statement", "status", "organisation", "system",
    "tool", "started_at", "completed_at", "policy", "data_categories", "stores", "phases",
    "counts", "totals", "holds", "errors", "verification",
}  # fmt: skip
_PHASE_COUNTS = ("acted", "held", "blocked", "capped", "failed", "unreadable")


def _method(action: str, kind: str, details: Mapping[str, Any]) -> str:
    if action == "purge":
        if kind == "blob":
            return "object deletion"
        if kind == "keys":
            return "key unlink"
        return "partition drop and row deletion" if details.get("partitions") else "row deletion"
    return {
        "soft_delete": "soft delete (rows kept, marked deleted)",
        "update": "update (columns changed)",
        "redact": "redaction (columns overwritten)",
        "warn": "notice sent (nothing deleted)",
    }.get(action, action)


def certificate_body(rt: Runtime, record: Mapping[str, Any]) -> dict[str, Any]:
    """The certificate body of the run ``record`` (as ``lethe runs show --json`` gives it)."""
    config = rt.config
    phases: list[dict[str, Any]] = []
    store_names: set[str] = set()
    for p in record.get("phases", []):
        ds = config.datasets.get(p["dataset"])
        kind = ds.kind if ds is not None else "table"
        entry: dict[str, Any] = {
            "policy": p["policy"],
            "dataset": p["dataset"],
            "phase": p["phase"],
            "action": p["action"],
            "method": _method(p["action"], kind, p.get("details", {})),
            "target": _what(ds) if ds is not None else p["table"],
            "table": p["table"],
            **{name: int(p.get(name, 0)) for name in _PHASE_COUNTS},
            "cascade": dict(p.get("cascade", {})),
        }
        if ds is not None:
            if ds.store:
                entry["store"] = ds.store
                store_names.add(ds.store)
            if ds.category:
                entry["category"] = ds.category
        phases.append(entry)
    counts = [
        {"target": table, "action": action, "rows": int(rows)}
        for table, per in sorted(record.get("counts", {}).items())
        for action, rows in sorted(per.items())
    ]
    stores = [
        {
            "name": name,
            "where": _where(rt.settings.store_url(name)),
            "methods": sorted({p["method"] for p in phases if p.get("store") == name}),
        }
        for name in sorted(store_names)
        if name in config.stores
    ]
    holds = [
        {
            "dataset": name,
            "registry": "lethe's hold registry",
            "table": ds.holds.model_dump(mode="json", exclude_none=True) if ds.holds else None,
        }
        for name in sorted({p["dataset"] for p in phases})
        if (ds := config.datasets.get(name)) is not None
    ]
    report = rt.ledger.verify()
    head = record.get("auditHead")
    run_head: dict[str, Any] | None = None
    if head:
        run_head = {"seq": head["seq"], "hash": head["hash"]}
        with rt.state.read() as conn:
            row = (
                conn.execute(select(entries).where(entries.c.hash == head["hash"]))
                .mappings()
                .first()
            )
        if row is not None:
            run_head["entry"] = row["seq"]
            run_head["signature"] = row.get("signature")
            run_head["key_id"] = row.get("key_id")
    dry = bool(record.get("dryRun"))
    return {
        "certificate_version": CERTIFICATE_VERSION,
        "run_id": record["runId"],
        "dry_run": dry,
        "statement": DRY_RUN_STATEMENT if dry else STATEMENT,
        "status": record.get("status"),
        "organisation": config.evidence.organisation,
        "system": config.evidence.system,
        "tool": {"name": "lethe", "version": __version__},
        "started_at": record.get("startedAt"),
        "completed_at": record.get("completedAt"),
        "policy": {
            "policies": list(record.get("policies", [])),
            "fingerprint_at_run": record.get("policyHash"),
            "fingerprint_at_issue": rt.settings.hash,
        },
        "data_categories": sorted({p["category"] for p in phases if "category" in p}),
        "stores": stores,
        "phases": phases,
        "counts": counts,
        "totals": {
            "rows": sum(c["rows"] for c in counts),
            "items_acted": sum(p["acted"] for p in phases),
            "items_held": sum(p["held"] for p in phases),
        },
        "holds": holds,
        "errors": [secrets.scrub(str(e)) for e in record.get("errors", [])],
        "verification": {
            "audit_chain_ok": report.ok,
            "audit_events": report.events,
            "audit_head": report.head,
            "audit_problems": len(report.problems),
            "run_head": run_head,
            "overdue": _overdue(rt, list(record.get("policies", []))),
            "anchors": _anchors(rt, str(record["runId"])),
        },
    }


def _anchors(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    """Per configured anchor, what the state database recorded of publishing the run's head
    (``audit verify`` reads the anchors themselves; this says where to look)."""
    rows = AnchorLog(rt.state).for_run(run_id)
    found = []
    for config in rt.config.evidence.anchors:
        row = rows.get(config.label)
        status = "not published" if row is None else row.status
        current = rt.ledger.entry(row.entry) if row is not None else None
        if row is not None and (current is None or current["hash"] != row.hash):
            status = "different head"  # the ledger changed after the head was anchored
        found.append(
            {
                "name": config.label,
                "type": config.type,
                "status": status,
                "published_at": row.published_at.isoformat() if row and row.published_at else None,
                "receipt": row.receipt if row else None,
            }
        )
    return found


def _overdue(rt: Runtime, policies: list[str]) -> dict[str, Any]:
    """The items overdue at issue under the run's policies still in the file (lethe attest)."""
    present = [name for name in policies if name in rt.config.policies]
    now = rt.state.now()
    found = attest(rt, present, now).body() if present else {"overdue_total": 0, "phases": []}
    return {
        "as_of": now.isoformat(),
        "total": found["overdue_total"],
        "phases": found["phases"],
        "not_attested": [name for name in policies if name not in present],
    }


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_certificate(body: Mapping[str, Any]) -> list[str]:
    """The problems in a certificate body's structure (empty: it holds)."""
    missing = _REQUIRED - set(body)
    if missing:
        return [f"the certificate lacks {sorted(missing)}"]
    problems: list[str] = []
    if body["certificate_version"] != CERTIFICATE_VERSION:
        problems.append(f"unknown certificate version {body['certificate_version']!r}")
    want = DRY_RUN_STATEMENT if body["dry_run"] else STATEMENT
    if body["statement"] != want:
        problems.append("the statement does not match dry_run")
    phases, counts = body["phases"], body["counts"]
    if not isinstance(phases, list) or not isinstance(counts, list):
        return [*problems, "phases and counts must be lists"]
    for p in phases:
        if not isinstance(p, dict) or not all(_count(p.get(n)) for n in _PHASE_COUNTS):
            problems.append("a phase's counts are not non-negative integers")
            return problems
    for c in counts:
        if not isinstance(c, dict) or not _count(c.get("rows")):
            problems.append("a count is not a non-negative integer")
            return problems
    totals = body["totals"]
    expect = {
        "rows": sum(c["rows"] for c in counts),
        "items_acted": sum(p["acted"] for p in phases),
        "items_held": sum(p["held"] for p in phases),
    }
    if not isinstance(totals, dict) or any(totals.get(k) != v for k, v in expect.items()):
        problems.append(f"the totals do not add up (expected {expect})")
    verification = body["verification"]
    overdue = verification.get("overdue") if isinstance(verification, dict) else None
    if not isinstance(overdue, dict) or not isinstance(overdue.get("phases"), list):
        problems.append("the verification lacks the overdue count at issue")
    elif not all(isinstance(p, dict) and _count(p.get("overdue")) for p in overdue["phases"]):
        problems.append("an overdue count is not a non-negative integer")
    elif overdue.get("total") != sum(p["overdue"] for p in overdue["phases"]):
        problems.append("the overdue total is not the sum of its phases")
    return problems


register(KIND, check_certificate)
