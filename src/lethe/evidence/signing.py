"""Ed25519 signatures for what lethe asserts: batch digests, run heads, documents.

A key is read from the file or environment variable ``[evidence]`` names, as PEM (PKCS #8,
``openssl genpkey -algorithm ed25519``) or as the base64 of its 32-byte seed. A public key is
shown and stored as the base64 of its 32 raw bytes; its ``key_id`` is the first 16 hex digits
of their SHA-256, short enough to print beside every signature and long enough not to collide
between the handful of keys an organisation rotates through.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lethe.config.evidence import EvidenceConfig
from lethe.errors import ConfigError

if TYPE_CHECKING:
    # cryptography (~7 MB) is imported by the functions that sign, verify or read a key: a run
    # without a signing key, which verifies nothing, never loads it (tests/test_lazy_imports.py).
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "ALGORITHM",
    "Signer",
    "generate_key_pem",
    "key_id",
    "load_signer",
    "verify_signature",
    "write_new_key",
]

ALGORITHM = "Ed25519"


def key_id(public_key: str) -> str:
    """The short name of a base64 public key: 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A loaded private key. Its repr never shows the key."""

    _key: Ed25519PrivateKey

    @property
    def public_key(self) -> str:
        """The public key, base64 of its 32 raw bytes."""
        from cryptography.hazmat.primitives import serialization

        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode("ascii")

    @property
    def key_id(self) -> str:
        """:func:`key_id` of :attr:`public_key`."""
        return key_id(self.public_key)

    def sign(self, data: bytes) -> str:
        """The signature of ``data``, base64."""
        return base64.b64encode(self._key.sign(data)).decode("ascii")

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


def verify_signature(public_key: str, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s (base64) signature of ``data``.
    A malformed key or signature is simply not a valid signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(_raw_public(public_key))
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def load_signer(config: EvidenceConfig, env: Mapping[str, str] | None = None) -> Signer | None:
    """The key ``[evidence]`` names, or None when it names none. A key that is named but
    missing or unreadable is a :class:`~lethe.errors.ConfigError` that never quotes the key."""
    env = os.environ if env is None else env
    if config.signing_key_env:
        where = f"evidence.signing_key_env ({config.signing_key_env})"
        text = env.get(config.signing_key_env)
        if not text:
            raise ConfigError("the environment variable is not set or empty", where)
    elif config.signing_key_file:
        where = f"evidence.signing_key_file ({config.signing_key_file})"
        try:
            text = Path(config.signing_key_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the key: {type(exc).__name__}", where) from None
    else:
        return None
    return Signer(_parse_private(text, where))


def generate_key_pem() -> str:
    """A new Ed25519 private key, PEM (PKCS #8, unencrypted): for ``lethe audit key --new``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def write_new_key(path: Path) -> str:
    """Write :func:`generate_key_pem` to ``path`` (mode 0600, created exclusively: an existing
    file is a :class:`~lethe.errors.ConfigError`, never overwritten); its public key."""
    pem = generate_key_pem()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path}: already exists; lethe never overwrites a key", "--new"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create: {exc.strerror}", "--new") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return Signer(_parse_private(pem, str(path))).public_key


def _parse_private(text: str, where: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError("the key is not an Ed25519 key", where)
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ConfigError(
            "not an Ed25519 private key (PEM, or the base64 of a 32-byte seed)", where
        ) from None


def _raw_public(public_key: str) -> bytes:
    raw = base64.b64decode(public_key, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return raw
