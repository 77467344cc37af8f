"""A JSON Web Key Set fetched from its URL and cached.

Keys are kept for ``ttl``; a token naming a key id not in the cache triggers one refetch
(the issuer rotated its keys), at most once per ``min_refetch`` so that tokens with made-up key
ids cannot make lethe hammer the issuer. Only RSA and EC keys are kept.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import timedelta

from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

__all__ = ["JWKSCache", "JWKSUnavailable"]

_KEY_TYPES = ("RSA", "EC")


class JWKSUnavailable(Exception):
    """The key set could not be fetched and no cached copy is left."""


class JWKSCache:
    """Signing keys by key id, from ``url``."""

    def __init__(
        self,
        url: str,
        ttl: timedelta,
        *,
        timeout: float = 5.0,
        min_refetch: timedelta = timedelta(seconds=30),
    ) -> None:
        self.url = url
        self.ttl = ttl.total_seconds()
        self.timeout = timeout
        self.min_refetch = min_refetch.total_seconds()
        self._keys: dict[str, PyJWK] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK | None:
        """The key with id ``kid``, refetching the set when stale or when ``kid`` is new."""
        with self._lock:
            age = time.monotonic() - self._fetched
            if age > self.ttl or (kid not in self._keys and age > self.min_refetch):
                self._refresh()
            return self._keys.get(kid)

    def _refresh(self) -> None:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                document = json.loads(reply.read())
            keys = PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, PyJWKSetError) as exc:
            self._fetched = time.monotonic() - self.ttl + self.min_refetch  # retry soon
            if not self._keys:
                raise JWKSUnavailable(f"cannot fetch the JWKS at {self.url}: {exc}") from exc
            return
        self._keys = {
            k.key_id: k for k in keys if k.key_id is not None and k.key_type in _KEY_TYPES
        }
        self._fetched = time.monotonic()
