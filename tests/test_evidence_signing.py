"""Ed25519 keys and signed documents (lethe.evidence.signing, lethe.evidence.documents)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lethe.config.evidence import EvidenceConfig
from lethe.errors import ConfigError
from lethe.evidence import documents, signing

documents.register("lethe.test", lambda body: [] if "n" in body else ["no n"])


@pytest.fixture(scope="module")
def signer() -> signing.Signer:
    pem = signing.generate_key_pem()
    loaded = signing.load_signer(EvidenceConfig(signing_key_env="KEY"), {"KEY": pem})
    assert loaded is not None
    return loaded


def test_keys_load_from_pem_seed_file_and_env(tmp_path: Path) -> None:
    seed = base64.b64encode(os.urandom(32)).decode()
    from_env = signing.load_signer(EvidenceConfig(signing_key_env="K"), {"K": seed})
    (tmp_path / "k").write_text(seed + "\n")
    from_file = signing.load_signer(EvidenceConfig(signing_key_file=str(tmp_path / "k")), {})
    assert from_env is not None and from_file is not None
    assert from_env.public_key == from_file.public_key
    assert from_env.key_id == signing.key_id(from_env.public_key)
    assert seed not in repr(from_env)
    assert signing.load_signer(EvidenceConfig(), {}) is None


@pytest.mark.parametrize(
    ("config", "env", "says"),
    [
        (EvidenceConfig(signing_key_env="K"), {}, "not set"),
        (EvidenceConfig(signing_key_env="K"), {"K": "c2VjcmV0LW5vdC1hLWtleQ=="}, "not an Ed25519"),
        (EvidenceConfig(signing_key_file="/nonexistent/k"), {}, "cannot read"),
    ],
)
def test_a_bad_key_is_one_line_naming_where_and_never_the_key(
    config: EvidenceConfig, env: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        signing.load_signer(config, env)
    assert says in str(info.value) and "evidence.signing_key" in str(info.value)
    assert "c2VjcmV0" not in str(info.value)


def test_both_key_sources_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        EvidenceConfig(signing_key_env="K", signing_key_file="/k")


def test_a_signed_document_verifies_against_its_key(signer: signing.Signer) -> None:
    data = documents.issue("lethe.test", {"n": 1, "name": "Zoë"}, signer)
    verdict = documents.verify_document(data, trusted_keys=(signer.public_key,))
    assert verdict.ok and verdict.signed and verdict.key_id == signer.key_id
    other = signing.Signer(signing._parse_private(signing.generate_key_pem(), "x"))
    foreign = documents.verify_document(data, trusted_keys=(other.public_key,))
    assert not foreign.ok and "not a trusted key" in foreign.problems[0]


def test_an_unsigned_document_is_checked_for_form_and_said_unsigned() -> None:
    data = documents.issue("lethe.test", {"n": 1}, None)
    assert documents.verify_document(data).ok
    assert documents.verify_document(data, require_signature=True).problems == [
        "the document is not signed"
    ]
    assert not documents.verify_document(data.replace(b'"n":1', b'"n": 1')).ok


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_changed_byte_fails_verification(signer: signing.Signer, data: st.DataObject) -> None:
    doc = documents.issue("lethe.test", {"n": 7, "keys": ["a", "b"], "ok": True}, signer)
    index = data.draw(st.integers(0, len(doc) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != doc[index]))
    changed = doc[:index] + bytes([byte]) + doc[index + 1 :]
    assert not documents.verify_document(changed).ok


def test_a_kinds_own_checks_run_and_unknown_kinds_fail(signer: signing.Signer) -> None:
    assert documents.verify_document(documents.issue("lethe.test", {}, signer)).problems == ["no n"]
    unknown = documents.verify_document(documents.issue("lethe.other", {"n": 1}, signer))
    assert unknown.problems == ["unknown document kind 'lethe.other'"]
