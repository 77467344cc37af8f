"""Who may call the trigger, status and admin endpoints.

``Authorization: Bearer <token>`` where the token is either one of ``serve.bearer_tokens`` or
``serve.admin_tokens`` (compared in constant time against every configured token) or an OIDC
ID token:

* signed with RS256 or ES256 only, by a key of the issuer's JWKS whose type and algorithm match
  the token's header — ``alg: none``, HMAC algorithms (the HS/RS confusion) and unknown key ids
  are refused;
* ``iss`` and ``aud`` as configured, ``exp`` and ``iat`` present, not expired, not before its
  ``nbf`` (with ``leeway`` for clock skew);
* an ``email`` in ``allowed_emails`` or ``admin_emails``, with ``email_verified`` absent or
  true (the string ``"false"`` is not true).

A missing or invalid credential answers 401 — a header or claim of the wrong type too, never a
500; a valid token for a caller not allowed, 403. The caller is an admin (:attr:`Principal.admin`,
required by ``/approvals``) with an admin token or an email in ``admin_emails``; never when
unauthenticated access is allowed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

import jwt
from jwt import PyJWK

from lethe.config.jobs import OIDCConfig, ServeConfig
from lethe.http.jwks import JWKSCache

__all__ = ["AuthError", "Authenticator", "Principal"]

ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}


class AuthError(Exception):
    """A refused credential: ``status`` is 401 (who are you?) or 403 (not you)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    kind: str  # "token", "oidc" or "anonymous"
    name: str
    #: May call the admin endpoints (approvals).
    admin: bool = False

    @property
    def identity(self) -> str:
        """How the audit names the caller: ``oidc:ops@example.com``, ``token:admin token #1``."""
        return f"{self.kind}:{self.name}"


class Authenticator:
    """Checks ``Authorization`` headers against the ``[serve]`` configuration."""

    def __init__(self, config: ServeConfig) -> None:
        self.allow_anonymous = config.allow_unauthenticated
        self.tokens = [
            (t.get_secret_value().encode(), f"bearer token #{n}", False)
            for n, t in enumerate(config.bearer_tokens, 1)
        ] + [
            (t.get_secret_value().encode(), f"admin token #{n}", True)
            for n, t in enumerate(config.admin_tokens, 1)
        ]
        self.oidc = config.oidc
        self.jwks = (
            JWKSCache(config.oidc.jwks_url, timedelta(seconds=config.oidc.jwks_cache.seconds))
            if config.oidc
            else None
        )

    @property
    def configured(self) -> bool:
        """Whether any way in (or explicit anonymity) is configured."""
        return bool(self.tokens or self.oidc or self.allow_anonymous)

    def authenticate(self, header: str | None) -> Principal:
        """The caller named by an ``Authorization`` header, or :class:`AuthError`."""
        if self.allow_anonymous:
            return Principal("anonymous", "anonymous")
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthError(401, "missing bearer token")
        credential = credential.strip()
        matched: Principal | None = None
        for token, name, admin in self.tokens:  # no early exit: constant time overall
            if hmac.compare_digest(token, credential.encode()):
                matched = Principal("token", name, admin)
        if matched:
            return matched
        if self.oidc is None or self.jwks is None or credential.count(".") != 2:
            raise AuthError(401, "invalid bearer token")
        return _verify(credential, self.oidc, self.jwks)


#: What a hostile token can make PyJWT raise besides its own errors: a claim of the wrong
#: type (``nbf: []``), an infinite number, JSON nested past the parser's recursion limit.
_MALFORMED = (jwt.InvalidTokenError, TypeError, ValueError, OverflowError, RecursionError)


def _verify(token: str, oidc: OIDCConfig, jwks: JWKSCache) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except _MALFORMED:
        raise AuthError(401, "malformed token") from None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        shown = repr(alg)[:40] if isinstance(alg, str) else f"of type {type(alg).__name__}"
        raise AuthError(401, f"algorithm {shown} is not accepted (RS256 or ES256 only)")
    if not isinstance(kid, str):
        raise AuthError(401, "the token names no signing key (kid)")
    key = jwks.key(kid)
    if key is None:
        raise AuthError(401, "unknown signing key")
    if key.key_type != ALGORITHMS[alg] or key.algorithm_name != alg:
        raise AuthError(401, f"key {kid[:40]!r} does not sign with {alg}")
    claims = _claims(token, key, alg, oidc)
    email = claims.get("email")
    admin = isinstance(email, str) and email in oidc.admin_emails
    allowed = admin or (isinstance(email, str) and email in oidc.allowed_emails)
    if not _verified(claims) or not isinstance(email, str) or not allowed:
        raise AuthError(403, "this identity may not call lethe")
    return Principal("oidc", email, admin)


def _claims(token: str, key: PyJWK, alg: str, oidc: OIDCConfig) -> dict[str, object]:
    """The token's verified claims, or a 401 saying why not."""
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=oidc.audience,
            issuer=oidc.issuer,
            leeway=oidc.leeway.seconds,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthError(401, "token not yet valid") from None
    except jwt.InvalidAudienceError:
        raise AuthError(401, "token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise AuthError(401, "token from another issuer") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(401, f"invalid token: {str(exc)[:200]}") from None
    except _MALFORMED:
        raise AuthError(401, "invalid token: a claim has the wrong type") from None
    return claims


def _verified(claims: dict[str, object]) -> bool:
    """Whether the issuer vouches for the email: ``email_verified`` absent or true. Some
    issuers send it as the string ``"true"``; ``"false"``, ``0`` or ``null`` are not true."""
    value = claims.get("email_verified", True)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
