"""``lethe records``: the retention schedule of a policy file, as records of processing
(GDPR Art. 30(1)(f): "the envisaged time limits for erasure of the different categories").

Per dataset: what (table, prefixes or key pattern; category and description), where (store,
URL scheme and host, never credentials), how long (the due rule and each phase with its grace,
in words), what happens before (warnings: milestones and who is warned), holds, purpose and
legal basis. Everything comes from the policy file; nothing is read from a store.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlsplit

from lethe import secrets
from lethe.config.datasets import DatasetConfig, HoldTable
from lethe.config.durations import Duration
from lethe.config.model import LetheConfig

__all__ = ["FORMATS", "RECORD_FIELDS", "SCHEMA_VERSION", "missing_records", "render", "schedule"]

SCHEMA_VERSION = 1
FORMATS = ("md", "csv", "json")

#: What ``lethe check`` requires of each dataset under ``[evidence] require_records``.
RECORD_FIELDS = ("category", "purpose", "legal_basis")

#: The CSV columns, one row per dataset.
COLUMNS = (
    "dataset",
    "category",
    "description",
    "what",
    "store",
    "where",
    "retention",
    "phases",
    "warnings",
    "holds",
    "purpose",
    "legal_basis",
)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def in_words(value: Duration) -> str:
    """``1 year 6 months``, ``30 days``, ``2 days 12 hours``."""
    parts: list[str] = []
    years, months = divmod(value.months, 12)
    if years:
        parts.append(_plural(years, "year"))
    if months:
        parts.append(_plural(months, "month"))
    rest = value.seconds
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(_plural(count, unit))
    return " ".join(parts) or "0 seconds"


def _where(url: str) -> str:
    """The store's URL scheme and host (a SQLite file's name); never user or password."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0] or "file"
    if scheme == "sqlite":
        name = parts.path.rsplit("/", 1)[-1] or "memory"
        return secrets.scrub(f"sqlite (file {name})")
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if scheme in ("s3", "gs", "az", "file") and not host:
        host = parts.path
    return secrets.scrub(f"{scheme} {host}".strip())


def _what(ds: DatasetConfig) -> str:
    if ds.prefixes is not None:
        prefixes = ds.prefixes if isinstance(ds.prefixes, list) else [ds.prefixes]
        return "objects under " + ", ".join(str(p) for p in prefixes)
    if ds.pattern is not None:
        return f"keys matching {ds.pattern}"
    name = ds.table or ds.model or "?"
    schema = f"{ds.db_schema}." if ds.db_schema else ""
    kind = "rows of model" if ds.table is None and ds.model else "rows of table"
    return f"{kind} {schema}{name}"


def _retention(ds: DatasetConfig) -> str:
    if ds.due_column:
        rule = f"due at the instant in {ds.due_column}"
    elif ds.retain is not None:
        age = ds.age_column or "last_modified"
        rule = f"kept {in_words(ds.retain)} after {age}"
    else:
        rule = "no due rule"
    if ds.where:
        rule += f" (only items matching {len(ds.where)} filter{'s' if len(ds.where) > 1 else ''})"
    return rule


def _recipient(action: Any) -> str:
    r = action.recipient
    if r.to:
        return f"{r.to}"
    if r.field:
        return f"the address through field {r.field}"
    if r.table:
        return f"{r.table}.{r.email or 'email'} of the row in {r.column}"
    return f"the address in column {r.column}"


def _phase(action: Any, rows: bool) -> str:
    kind = action.type
    if kind == "warn":
        before = ", ".join(in_words(d) for d in action.before)
        return f"warn {before} before, to {_recipient(action)}"
    if kind == "soft_delete":
        return f"soft delete (set {action.column})"
    if kind == "purge":
        text = "delete permanently" + (", with cascaded rows" if rows else "")
        if action.grace is not None:
            after = f"after {action.after}" if action.after else "after the phase before"
            text += f", {in_words(action.grace)} {after}"
        return text
    if kind == "update":
        return "update " + ", ".join(sorted(action.set))
    if kind == "redact":
        return "redact " + ", ".join(action.columns)
    return str(kind)


def _holds(ds: DatasetConfig) -> str:
    found = ["lethe's holds (lethe hold add)"]
    if ds.holds is not None:
        hold = ds.holds
        if isinstance(hold, HoldTable):
            column = hold.column or ", ".join(hold.columns or [])
            found.append(f"the application's hold table {hold.table} ({column})")
        else:
            found.append(f"the application's hold model {hold.model} ({hold.field})")
    return "; ".join(found)


def schedule(config: LetheConfig) -> dict[str, Any]:
    """The retention schedule as a JSON-ready document, datasets in the file's order."""
    datasets: list[dict[str, Any]] = []
    for name, ds in config.datasets.items():
        policies = [(p, pc) for p, pc in config.policies.items() if pc.dataset == name]
        phases = [
            {
                "policy": p,
                "phase": i,
                "type": a.type,
                "words": _phase(a, ds.kind == "table"),
                "enabled": pc.enabled,
            }
            for p, pc in policies
            for i, a in enumerate(pc.actions)
        ]
        store = config.stores.get(ds.store or "")
        datasets.append(
            {
                "dataset": name,
                "category": ds.category,
                "description": ds.description,
                "what": _what(ds),
                "store": ds.store,
                "where": _where(store.url) if store is not None else "",
                "retention": _retention(ds),
                "phases": [p for p in phases if p["type"] != "warn"],
                "warnings": [p for p in phases if p["type"] == "warn"],
                "holds": _holds(ds),
                "purpose": ds.purpose,
                "legal_basis": ds.legal_basis,
                "policies": [p for p, _ in policies],
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "organisation": config.evidence.organisation,
        "system": config.evidence.system,
        "datasets": datasets,
    }


def missing_records(config: LetheConfig) -> dict[str, list[str]]:
    """Per dataset, the record keys (:data:`RECORD_FIELDS`) it lacks."""
    missing = {
        name: [f for f in RECORD_FIELDS if getattr(ds, f) is None]
        for name, ds in config.datasets.items()
    }
    return {name: fields for name, fields in missing.items() if fields}


def _joined(phases: list[dict[str, Any]]) -> str:
    return "; ".join(f"{p['policy']}[{p['phase']}]: {p['words']}" for p in phases)


def render(doc: dict[str, Any], fmt: str) -> str:
    """``doc`` (:func:`schedule`) as Markdown, CSV or JSON text."""
    if fmt == "json":
        return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for d in doc["datasets"]:
            cells = {**d, "phases": _joined(d["phases"]), "warnings": _joined(d["warnings"])}
            writer.writerow("" if cells[c] is None else cells[c] for c in COLUMNS)
        return out.getvalue()
    lines = ["# Records of processing: retention schedule", ""]
    issuer = " — ".join(x for x in (doc["organisation"], doc["system"]) if x)
    if issuer:
        lines += [issuer, ""]
    for d in doc["datasets"]:
        lines += [f"## {d['dataset']}", ""]
        for label, key in (
            ("Category", "category"),
            ("Description", "description"),
            ("What", "what"),
            ("Where", "where"),
            ("How long", "retention"),
        ):
            value = d[key] if key != "where" else f"store {d['store']}: {d['where']}"
            lines.append(f"- **{label}**: {value if value else '(not given)'}")
        lines.append(f"- **Phases**: {_joined(d['phases']) or '(no policy)'}")
        lines.append(f"- **Before**: {_joined(d['warnings']) or 'no warning'}")
        lines.append(f"- **Holds**: {d['holds']}")
        lines.append(f"- **Purpose**: {d['purpose'] or '(not given)'}")
        lines.append(f"- **Legal basis**: {d['legal_basis'] or '(not given)'}")
        lines.append("")
    return "\n".join(lines)
