"""``lethe evidence run``: a deletion certificate from a real run, verified offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lethe.config.evidence import EvidenceConfig
from lethe.evidence import certificate, documents
from lethe.evidence.signing import Signer, generate_key_pem, load_signer
from tests.support.apps import NOW, example_lethe, seeded
from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url"))


def _signer(tmp_path: Path, name: str = "issuer") -> Signer:
    key = tmp_path / f"{name}.pem"
    key.write_text(generate_key_pem())
    signer = load_signer(EvidenceConfig(signing_key_file=str(key)))
    assert signer is not None
    return signer


def _issue(
    url: str, tmp_path: Path, signer: Signer | None = None, *, dry_run: bool = False
) -> bytes:
    seeded("census", url)
    with example_lethe("census", url, tmp_path) as lethe:
        lethe.run(as_of=NOW, dry_run=dry_run)
        record = lethe.run_record(lethe.runs(1)[0]["runId"])
        body = certificate.certificate_body(lethe.runtime, record)
    return documents.issue(certificate.KIND, body, signer)


def test_a_runs_certificate_verifies_and_holds_its_counts(url: str, tmp_path: Path) -> None:
    data = _issue(url, tmp_path)
    verdict = documents.verify_document(data)
    assert verdict.ok, verdict.problems
    body = json.loads(data)["body"]
    assert body["dry_run"] is False and body["totals"]["rows"] > 0
    assert body["verification"]["audit_chain_ok"] is True
    assert "password" not in data.decode() and "secret" not in data.decode()
    assert body["tool"]["name"] == "lethe" and body["tool"]["version"]
    assert body["data_categories"] == ["survey responses"]
    methods = {m for s in body["stores"] for m in s["methods"]}
    assert methods == {p["method"] for p in body["phases"]} and "row deletion" in methods
    # After a real run nothing due and unheld is left: the overdue count at issue is zero.
    overdue = body["verification"]["overdue"]
    assert overdue["total"] == 0 and overdue["phases"] and overdue["not_attested"] == []


def test_a_dry_runs_certificate_counts_what_is_still_overdue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dry.db'}"
    body = json.loads(_issue(url, tmp_path, dry_run=True))["body"]
    with example_lethe("census", url, tmp_path) as lethe:
        expected = lethe.attest(body["policy"]["policies"], as_of=NOW)
    overdue = body["verification"]["overdue"]
    assert body["dry_run"] is True and overdue["total"] == expected.overdue > 0
    assert [p["overdue"] for p in overdue["phases"]] == [p.overdue for p in expected.phases]


def test_an_overdue_total_that_does_not_add_up_fails_the_check(tmp_path: Path) -> None:
    body = json.loads(_issue(f"sqlite:///{tmp_path / 'o.db'}", tmp_path, dry_run=True))["body"]
    body["verification"]["overdue"]["total"] -= 1
    verdict = documents.verify_document(documents.issue(certificate.KIND, body, None))
    assert not verdict.ok and "overdue total" in verdict.problems[0]


def test_totals_that_do_not_add_up_fail_the_check(tmp_path: Path) -> None:
    body = json.loads(_issue(f"sqlite:///{tmp_path / 'a.db'}", tmp_path))["body"]
    body["totals"]["rows"] += 1
    verdict = documents.verify_document(documents.issue(certificate.KIND, body, None))
    assert not verdict.ok and "totals" in verdict.problems[0]


def test_any_changed_byte_fails(tmp_path: Path) -> None:
    signer = _signer(tmp_path)
    data = _issue(f"sqlite:///{tmp_path / 'b.db'}", tmp_path, signer)
    assert documents.verify_document(data, trusted_keys=(signer.public_key,)).ok
    other = _signer(tmp_path, "other").public_key
    assert not documents.verify_document(data, trusted_keys=(other,)).ok

    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, len(data) - 1), st.integers(1, 255))
    def changed(position: int, delta: int) -> None:
        edited = bytearray(data)
        edited[position] = (edited[position] + delta) % 256
        assert not documents.verify_document(bytes(edited)).ok

    changed()


def test_the_command_writes_a_certificate_that_verify_accepts(
    census: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "run", *AS_OF)
    assert code in (0, 1), err
    run_id = json.loads(run_cli(capsys, "runs", "--json")[1])[0]["runId"]
    code, out, err = run_cli(capsys, "evidence", "run", run_id, "--out", str(tmp_path / "c.json"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "evidence", "verify", str(tmp_path / "c.json"))
    assert code == 0 and "lethe.certificate verifies" in out, (out, err)


def test_a_run_that_does_not_exist_exits_6_on_one_line(
    census: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "evidence", "run", "no-such-run")
    assert code == 6 and out == "" and len(err.strip().splitlines()) == 1, (out, err)
