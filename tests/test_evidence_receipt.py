"""``lethe evidence item``: per-item receipts from real runs, verified offline by recomputing
each event's leaf, audit path, entry hash (and signature) from the receipt alone."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lethe import Lethe
from lethe.config.evidence import EvidenceConfig
from lethe.evidence import documents, receipt
from lethe.evidence.signing import Signer, generate_key_pem, load_signer
from lethe.testing import ManualClock
from tests.support.apps import NOW, example_lethe, example_policy, run_at, schema_on, seeded
from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The Census application on SQLite, then on PostgreSQL (its purge cascades to responses)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url"))


def _signer(tmp_path: Path, name: str = "issuer") -> Signer:
    key = tmp_path / f"{name}.pem"
    key.write_text(generate_key_pem())
    signer = load_signer(EvidenceConfig(signing_key_file=str(key)))
    assert signer is not None
    return signer


def _reissue(data: bytes, change: Any, signer: Signer | None) -> bytes:
    """The document's body changed by ``change`` and issued again, as a forger would."""
    body = json.loads(data)["body"]
    change(body)
    return documents.issue(receipt.KIND, body, signer)


def test_a_deleted_items_receipt_proves_its_deletion_and_cascade(url: str, tmp_path: Path) -> None:
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
        record = lethe.run_record(lethe.runs(1)[0]["runId"])
    assert body["status"] == "deleted"
    deletion = body["deletion"]
    assert deletion["event"] == "hard_deleted" and deletion["policy"] == "data-governance"
    assert deletion["cascade"] == {"surveys_surveyresponse": 3}  # its responses went with it
    assert deletion["run_id"] == record["runId"]
    assert deletion["policy_hash"] == record["policyHash"] and len(record["policyHash"]) == 64
    assert deletion["holds_checked"]["table"]["table"] == "surveys_legalhold"
    issuer = _signer(tmp_path)
    data = documents.issue(receipt.KIND, body, issuer)
    verdict = documents.verify_document(data, trusted_keys=(issuer.public_key,))
    assert verdict.ok, verdict.problems


def test_every_changed_byte_fails_verification(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        body = receipt.receipt_body(lethe.runtime, "surveys", "7")
    # Signed, as [evidence] signing_key_file issues it: an unsigned document proves its events,
    # but a field outside the proofs (as_of) could be rewritten in place.
    data = documents.issue(receipt.KIND, body, _signer(tmp_path))
    assert documents.verify_document(data).ok

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, len(data) - 1), st.integers(1, 255))
    def flipped(position: int, delta: int) -> None:
        changed = bytearray(data)
        changed[position] = (changed[position] + delta) % 256
        assert not documents.verify_document(bytes(changed)).ok

    flipped()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda b: b["events"][0].update(
                canonical=b["events"][0]["canonical"].replace('"purge"', '"keep"')
            ),
            id="event-text",
        ),
        pytest.param(lambda b: b["events"][0]["path"].__setitem__(0, "00" * 32), id="path"),
        pytest.param(lambda b: b["events"][0]["path"].append("11" * 32), id="path-longer"),
        pytest.param(lambda b: b["events"][0]["entry"].update(root="22" * 32), id="root"),
        pytest.param(lambda b: b["events"][0]["entry"].update(prev_hash="33" * 32), id="prev"),
        pytest.param(lambda b: b["events"][0].update(ts="2024-01-01T00:00:00+00:00"), id="when"),
        pytest.param(lambda b: b.update(key="3"), id="other-item"),
        pytest.param(
            lambda b: b["deletion"]["cascade"].update(surveys_surveyresponse=0), id="cascade"
        ),
    ],
)
def test_a_forged_body_fails_its_own_check_even_reissued(tmp_path: Path, forge: Any) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        data = documents.issue(
            receipt.KIND, receipt.receipt_body(lethe.runtime, "surveys", "2"), None
        )
    forged = _reissue(data, forge, _signer(tmp_path))  # a valid envelope by a fresh key
    verdict = documents.verify_document(forged)
    assert verdict.signed and not verdict.ok, "the body check itself must catch it"


def test_a_receipt_signed_by_another_key_fails_with_key(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    ours, theirs = _signer(tmp_path, "ours"), _signer(tmp_path, "theirs")
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
    doc = tmp_path / "receipt.json"
    doc.write_bytes(documents.issue(receipt.KIND, body, theirs))
    assert run_cli(capsys, "evidence", "verify", str(doc))[0] == 0  # a valid signature by someone
    code, out, _ = run_cli(capsys, "evidence", "verify", str(doc), "--key", ours.public_key)
    assert code == 4 and "not a trusted key" in out


def test_a_pending_receipt_states_what_explain_says(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        for key in ("1", "6"):
            body = receipt.receipt_body(lethe.runtime, "surveys", key, NOW)
            told = lethe.explain("surveys", key, as_of=NOW)
            assert body["status"] == "pending"
            phases = body["pending"]["phases"]
            assert [(p["action"], p["selected_now"], p["unmet"]) for p in phases] == [
                (v.action, v.selected_now, list(v.unmet)) for v in told.verdicts
            ]
            assert [p["from"] for p in phases] == [
                v.from_instant.isoformat() if v.from_instant else None for v in told.verdicts
            ]
            assert documents.verify_document(documents.issue(receipt.KIND, body, None)).ok


def test_a_held_item_says_held_with_its_skip_proved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.holds.add("surveys", "2", "subject access request", "dpo")
        run_at(lethe, NOW + timedelta(days=1))
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
    assert body["status"] == "held"
    assert body["pending"]["blocked"] and body["pending"]["holds"][0]["reason"]
    assert "skipped_hold" in [e["event"] for e in body["events"]]
    assert receipt.check_receipt(body) == []


def test_cli_writes_a_receipt_that_verifies_and_an_unknown_item_is_exit_6(  # type: ignore[no-untyped-def]
    census, capsys
) -> None:
    assert run_cli(capsys, "run", *AS_OF)[0] == 0
    code, out, err = run_cli(capsys, "evidence", "item", "surveys", "2", "--out", "r.json")
    assert code == 0 and "deleted" in out, err
    assert run_cli(capsys, "evidence", "verify", "r.json")[0] == 0
    code, out, _ = run_cli(capsys, "evidence", "item", "surveys", "1", *AS_OF)
    assert code == 0 and json.loads(out)["body"]["status"] == "pending"
    code, out, err = run_cli(capsys, "evidence", "item", "surveys", "999")
    assert code == 6 and err.count("\n") == 1 and "999" in err and not out
    code, out, err = run_cli(capsys, "evidence", "item", "surveys", "2", "--out", "no/such/r.json")
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err


def test_the_documented_hand_check_accepts_a_real_receipt_and_refuses_a_forged_one(
    tmp_path: Path,
) -> None:
    text = (Path(__file__).parents[1] / "docs" / "evidence.md").read_text()
    section = text[text.index("### Verifying by hand") :]
    start = section.index("```python\n") + 10
    script = section[start : section.index("\n```", start)]
    assert "entry" in script
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        data = documents.issue(
            receipt.KIND, receipt.receipt_body(lethe.runtime, "surveys", "7"), None
        )
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(data)
    bad.write_bytes(
        _reissue(data, lambda b: b["events"][0]["path"].__setitem__(0, "00" * 32), None)
    )
    for path, passes in ((good, True), (bad, False)):
        run = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=False
        )
        assert (run.returncode == 0) is passes, run.stderr
    assert (
        "is in ledger entry"
        in subprocess.run(
            [sys.executable, "-c", script, str(good)], capture_output=True, text=True, check=True
        ).stdout
    )


def test_a_hold_placed_and_released_before_the_deletion_is_proved_in_the_receipt(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        hold = lethe.holds.add("surveys", "2", "subject access request", "dpo")
        lethe.run(as_of=NOW)
        lethe.holds.release(hold.id, "dpo", "request closed")
        run_at(lethe, NOW + timedelta(days=1))
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
    assert body["status"] == "deleted"
    checked = body["deletion"]["holds_checked"]
    assert [h["event"] for h in checked["registry_history"]] == ["hold_placed", "hold_released"]
    assert len(checked["held_before"]) == 1  # the first run skipped it
    assert receipt.check_receipt(body) == []


def test_a_signed_entry_is_checked_against_its_public_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW)
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
    ledger_key, other = _signer(tmp_path, "ledger"), _signer(tmp_path, "other")
    entry = body["events"][-1]["entry"]
    # Signed as the ledger signs an entry: Ed25519 over its hash's hex digits.
    entry.update(
        signature=ledger_key.sign(entry["hash"].encode("ascii")),
        key_id=ledger_key.key_id,
        public_key=ledger_key.public_key,
    )
    assert receipt.check_receipt(body) == []
    for forged in (
        {"public_key": other.public_key, "key_id": other.key_id},
        {"signature": other.sign(entry["hash"].encode("ascii"))},
        {"key_id": other.key_id},
        {"public_key": None},
    ):
        problems = receipt.check_receipt(
            {**body, "events": [{**body["events"][-1], "entry": {**entry, **forged}}]}
        )
        assert problems and "entry" in problems[0], forged


def test_the_sample_receipt_in_the_docs_is_a_real_one_that_verifies() -> None:
    text = (Path(__file__).parents[1] / "docs" / "evidence.md").read_text()
    section = text[text.index("## Receipts") :]
    start = section.index("```json\n") + 8
    sample = json.loads(section[start : section.index("\n```", start)])
    verdict = documents.verify_document(
        documents.dumps(sample)
    )  # the one-line form it was issued in
    assert verdict.ok and verdict.signed, verdict.problems
    assert sample["body"]["status"] == "deleted" and sample["body"]["deletion"]["policy_hash"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_composite_key_receipt_as_explain_takes_the_key(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from tests.test_composite_dataset_key import POLICY, SCHEMA

    app = schema_on(backend, request, tmp_path, SCHEMA)
    policy = tmp_path / "lethe.toml"
    policy.write_text(POLICY.format(state=tmp_path, url=app, extra=""))
    with Lethe.from_file(policy, clock=ManualClock(NOW)) as lethe:
        lethe.run()
        deleted = receipt.receipt_body(lethe.runtime, "members", "[2, 2]")  # typed with a space
        held = receipt.receipt_body(lethe.runtime, "members", "[1,2]")
    assert (deleted["key"], deleted["status"]) == ("[2,2]", "deleted")
    assert deleted["deletion"]["cascade"] == {"posts": 2}
    assert (held["status"], held["pending"]["held_by_table"]) == ("held", True)
    assert receipt.check_receipt(deleted) == receipt.check_receipt(held) == []


def test_a_receipt_from_a_signing_ledger_carries_its_key_even_after_the_key_is_gone(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    signing = example_policy("census") + '\n[evidence]\nsigning_key_env = "LETHE_RECEIPT_KEY"\n'
    pem = generate_key_pem()
    # The key comes from the environment the file was loaded with, not from os.environ.
    with example_lethe("census", url, tmp_path, signing, env={"LETHE_RECEIPT_KEY": pem}) as lethe:
        lethe.run(as_of=NOW)
        ours = lethe.runtime.state.signer
        assert ours is not None
        body = receipt.receipt_body(lethe.runtime, "surveys", "2")
    entry = body["events"][0]["entry"]
    assert entry["key_id"] == ours.key_id and entry["public_key"] == ours.public_key
    assert documents.verify_document(documents.issue(receipt.KIND, body, ours)).ok
    # Later, with no key configured (rotated away), the ledger's record of keys still names it.
    with example_lethe("census", url, tmp_path) as later:
        again = receipt.receipt_body(later.runtime, "surveys", "2")
    assert again["events"][0]["entry"]["public_key"] == ours.public_key
    assert receipt.check_receipt(again) == []
