"""Signed documents: the one envelope every piece of evidence lethe issues is written in.

A document is a JSON object written in one exact form (keys sorted, no white space, non-ASCII
escaped, one final newline), so the file's bytes are the bytes that were signed::

    {"body":{...},"document":"lethe.certificate","issued_at":"2026-12-03T07:00:00Z",
     "signature":{"alg":"Ed25519","key_id":"…","public_key":"…","value":"…"},"version":1}

The signature covers the document without its ``signature`` member, in the same form. A
document issued without a key has ``"signature": null``: :func:`verify_document` still checks
its form and its kind's checks, and says it is unsigned — but an edit that keeps the form (a
digit changed) passes: only a signature makes every changed byte fail. Each kind
(``document``) registers the checks of its own body with :func:`register`;
:func:`verify_document` runs them after the signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lethe.evidence.signing import ALGORITHM, Signer, key_id, verify_signature

__all__ = [
    "FORMAT_VERSION",
    "Verdict",
    "dumps",
    "issue",
    "register",
    "verify_document",
]

#: The envelope's format; a document of a later one is refused rather than half-checked.
FORMAT_VERSION = 1

#: A kind's own checks: the problems found in a document's body (empty: none).
BodyCheck = Callable[[Mapping[str, Any]], list[str]]
_CHECKS: dict[str, BodyCheck] = {}
_MEMBERS = {"body", "document", "issued_at", "signature", "version"}


def register(kind: str, check: BodyCheck) -> None:
    """Make :func:`verify_document` run ``check`` on the body of every ``kind`` document."""
    _CHECKS[kind] = check


def dumps(value: Any) -> bytes:
    """``value`` in the one form documents are written and signed in."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (text + "\n").encode("ascii")


def issue(
    kind: str, body: Mapping[str, Any], signer: Signer | None, *, now: datetime | None = None
) -> bytes:
    """A ``kind`` document carrying ``body``, signed by ``signer`` (None: unsigned); its bytes."""
    issued = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc: dict[str, Any] = {
        "body": body,
        "document": kind,
        "issued_at": issued,
        "version": FORMAT_VERSION,
    }
    signature = None
    if signer is not None:
        signature = {
            "alg": ALGORITHM,
            "key_id": signer.key_id,
            "public_key": signer.public_key,
            "value": signer.sign(dumps(doc)),
        }
    return dumps({**doc, "signature": signature})


@dataclass
class Verdict:
    """What :func:`verify_document` found. ``ok``: the form, the signature (when required or
    present) and the kind's own checks all hold."""

    kind: str | None = None
    signed: bool = False
    key_id: str | None = None
    problems: list[str] = field(default_factory=list)
    document: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_document(
    data: bytes, *, trusted_keys: tuple[str, ...] = (), require_signature: bool = False
) -> Verdict:
    """Check a document's bytes offline: its exact form, its signature, and its kind's checks.

    With ``trusted_keys`` (base64 public keys), a signature by any other key is a problem: the
    key inside a document proves only that whoever holds it signed, not that it is yours.
    """
    verdict = Verdict()
    try:
        doc = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        verdict.problems.append("not a lethe document: not ASCII JSON")
        return verdict
    if not isinstance(doc, dict) or not isinstance(doc.get("body"), dict):
        verdict.problems.append("not a lethe document: no body")
        return verdict
    verdict.document = doc
    verdict.kind = doc.get("document") if isinstance(doc.get("document"), str) else None
    if doc.get("version") != FORMAT_VERSION:
        verdict.problems.append(f"unknown document version {doc.get('version')!r}")
        return verdict
    if set(doc) != _MEMBERS:
        verdict.problems.append(f"the document's members are not {sorted(_MEMBERS)}")
        return verdict
    if dumps(doc) != data:
        verdict.problems.append("the file is not byte for byte as lethe wrote it (edited?)")
    signature = doc.get("signature")
    if signature is None:
        if require_signature or trusted_keys:
            verdict.problems.append("the document is not signed")
    else:
        verdict.problems += _check_signature(verdict, doc, signature, trusted_keys)
    check = _CHECKS.get(verdict.kind or "")
    if check is None:
        verdict.problems.append(f"unknown document kind {verdict.kind!r}")
    else:
        verdict.problems += check(doc["body"])
    return verdict


def _check_signature(
    verdict: Verdict, doc: dict[str, Any], signature: Any, trusted: tuple[str, ...]
) -> list[str]:
    if not isinstance(signature, dict) or signature.get("alg") != ALGORITHM:
        return ["the signature is malformed or not Ed25519"]
    public, value = signature.get("public_key"), signature.get("value")
    if not isinstance(public, str) or not isinstance(value, str):
        return ["the signature is malformed"]
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    if not verify_signature(public, dumps(unsigned), value):
        return ["the signature does not match the document"]
    verdict.signed = True
    verdict.key_id = key_id(public)
    if signature.get("key_id") != verdict.key_id:  # not covered by the signature: checked here
        return [f"the signature's key_id is not its key's ({verdict.key_id})"]
    if trusted and public not in trusted:
        return [f"signed by key {verdict.key_id}, which is not a trusted key"]
    return []
