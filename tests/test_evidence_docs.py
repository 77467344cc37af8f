"""The evidence docs promise only what exists and leave nothing out (every command's README row:
test_readme.py): every ``[evidence]`` key has its row in
docs/policy-file.md, and the sample certificate in docs/evidence.md is a real, signed one
that verifies (the sample receipt is checked in test_evidence_receipt.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lethe.config.evidence import EvidenceConfig
from lethe.evidence import documents, kinds

__all__ = ["kinds"]  # imported for the kinds it registers

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EVIDENCE = (REPO / "docs" / "evidence.md").read_text()
POLICY_FILE = (REPO / "docs" / "policy-file.md").read_text()


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


ROWS = [
    line.split(" | ")[0]
    for line in _section(README, "## Commands").splitlines()
    if line.startswith("| `lethe ")
]


def test_plan_against_has_its_row_with_its_options() -> None:
    [row] = [r for r in ROWS if "`lethe plan --against" in r]
    for option in ("--days", "--samples", "--as-of", "--json"):
        assert option in row


@pytest.mark.parametrize("key", sorted(EvidenceConfig.model_fields))
def test_each_evidence_key_has_its_row_in_the_policy_file_reference(key: str) -> None:
    table = _section(POLICY_FILE, "## `[evidence]`")
    assert re.search(rf"^\| [^|]*`{key}`", table, re.MULTILINE), f"[evidence] {key}"


def test_the_sample_certificate_is_a_real_signed_one_that_verifies() -> None:
    section = _section(EVIDENCE, "## Deletion certificates")
    start = section.index("```json\n") + 8
    sample = json.loads(section[start : section.index("\n```", start)])
    assert sample["document"] == "lethe.certificate"
    verdict = documents.verify_document(documents.dumps(sample))  # its one-line signed form
    assert verdict.ok and verdict.signed, verdict.problems
    body = sample["body"]
    assert body["totals"]["rows"] > 0 and body["verification"]["audit_chain_ok"]


def test_the_export_schema_is_documented_field_by_field_in_order() -> None:
    from lethe.evidence.export import EVENTS, FIELDS, SCHEMA_VERSION

    schema = _section(EVIDENCE, "## Audit export")
    table = schema[schema.index(f"### Record schema, version {SCHEMA_VERSION}") :]
    table = table[: table.index("### `details` per event kind")]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)
    assert tuple(documented) == FIELDS
    kinds = schema[schema.index("### `details` per event kind") :]
    rows = [line.split(" | ")[0] for line in kinds.splitlines()[3:] if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row)}
    assert named == set(EVENTS)
