"""A test OIDC issuer: RSA and EC keys generated per session, their JWKS, and ID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://accounts.google.com"
AUDIENCE = "https://worker.example.run.app"
EMAIL = "scheduler@validibot.iam.gserviceaccount.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Signs ID tokens; ``rsa-1`` and ``ec-1`` are published, ``rotated-away`` is not."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.unpublished = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig"},
            ]
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "1234567890",
            "email": EMAIL,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, alg: str = "RS256", kid: str | None = None, **overrides: Any) -> str:
        """A token signed with the published key for ``alg`` (``kid`` may lie)."""
        key = self.rsa if alg == "RS256" else self.ec
        default_kid = "rsa-1" if alg == "RS256" else "ec-1"
        return jwt.encode(
            self.claims(**overrides), key, algorithm=alg, headers={"kid": kid or default_kid}
        )

    def unpublished_token(self) -> str:
        return jwt.encode(
            self.claims(), self.unpublished, algorithm="RS256", headers={"kid": "rotated-away"}
        )

    def unsigned_token(self) -> str:
        """``alg: none``."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
        return f"{header}.{_b64(json.dumps(self.claims()).encode())}."

    def hs256_with_public_key(self) -> str:
        """The HS/RS confusion: HMAC-signed with the RSA public key as the secret."""
        secret = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
        payload = _b64(json.dumps(self.claims()).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"
