"""``type = "webhook"``: each run head POSTed as JSON to an endpoint you keep elsewhere.

The body is the head document (``{"version": 1, "kind": "lethe.run_head", "run_id": …,
"entry": …, "hash": …, "signature": …, "key_id": …, "ts": …}``); with ``secret_env`` set,
``X-Lethe-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes under that
variable's value, so the receiver can tell lethe's posts from anyone else's. Any 2xx reply is
an acceptance. The state database records when each head was delivered and what the endpoint
answered. Without ``read_url`` a webhook cannot be read back, and ``lethe audit verify``
reports its heads as delivered, not checkable; with it, verify GETs that URL, expects a JSON
array of every head document the receiver kept, and compares them like any anchor's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lethe import secrets
from lethe.evidence.anchors.base import AnchorConfig, AnchorError, Head, Reading
from lethe.evidence.anchors.registry import register

if TYPE_CHECKING:
    # httpx (~20 MB with what it brings) is imported by the methods that post and read:
    # loading a policy that names a webhook anchor does not need it (tests/test_lazy_imports.py).
    import httpx

__all__ = ["WebhookAnchor", "WebhookAnchorConfig"]


@register("webhook")
class WebhookAnchorConfig(AnchorConfig):
    """POST each run head to ``url``::

    [[evidence.anchors]]
    type = "webhook"
    url = "https://evidence.example.org/lethe/heads"
    secret_env = "LETHE_ANCHOR_SECRET"     # optional: signs each body (HMAC-SHA256)
    read_url = "https://evidence.example.org/lethe/heads"   # optional: GET → JSON array
    """

    type: Literal["webhook"] = "webhook"
    url: str
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(default=10.0, gt=0, le=120)
    read_url: str | None = None

    @field_validator("url", "read_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook url is http:// or https:// with a host")
        secret = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
        if len(secret) >= 8:  # a token in the path or query is a credential: never printed
            secrets.register(secret)
        return value

    def build(self, base_dir: Path, env: Mapping[str, str]) -> WebhookAnchor:
        key: bytes | str | None = None
        if self.secret_env:
            # Missing, it fails each publish (a warning), not verify, which needs no secret.
            value = env.get(self.secret_env)
            key = self.secret_env if not value else value.encode()
            if value:
                secrets.register(value)
        return WebhookAnchor(self.label, self.url, key, self.timeout, self.read_url)


class WebhookAnchor:
    """One HTTP client per publishing pass."""

    def __init__(
        self,
        name: str,
        url: str,
        key: bytes | str | None,
        timeout: float,
        read_url: str | None = None,
    ) -> None:
        """``key`` is the HMAC key, or the name of its variable when that is not set."""
        self.read_url = read_url
        self.name = name
        self.url = url
        self._key = key
        self._timeout = timeout
        self._client: httpx.Client | None = None

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.netloc}"

    def publish(self, head: Head) -> str:
        import httpx

        body = json.dumps(head.document(), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{head.run_id}:{head.hash}",
        }
        if isinstance(self._key, str):
            raise AnchorError(
                f"{self.describe()}: environment variable {self._key} (secret_env) is not set"
            )
        if self._key is not None:
            mac = hmac.new(self._key, body, hashlib.sha256).hexdigest()
            headers["X-Lethe-Signature"] = f"sha256={mac}"
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
        try:
            reply = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise AnchorError(f"{self.describe()}: {secrets.scrub(reason)}") from None
        if not reply.is_success:
            raise AnchorError(f"{self.describe()} answered HTTP {reply.status_code}")
        return f"HTTP {reply.status_code}"

    def read(self) -> Reading | None:
        """What ``read_url`` lists, or None (nothing lethe can read back) without one."""
        if self.read_url is None:
            return None
        import httpx

        where = f"{self.describe()} read_url"
        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
                reply = client.get(self.read_url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise AnchorError(f"{where}: {secrets.scrub(reason)}") from None
        if not reply.is_success:
            raise AnchorError(f"{where} answered HTTP {reply.status_code}")
        try:
            listed = reply.json()
        except ValueError:
            raise AnchorError(f"{where}: the answer is not JSON") from None
        if not isinstance(listed, list):
            raise AnchorError(f"{where}: the answer is not a JSON array of run heads")
        reading = Reading()
        for number, document in enumerate(listed, 1):
            try:
                reading.heads.append(Head.from_document(document))
            except (ValueError, AttributeError) as exc:
                reading.problems.append(f"{where} item {number}: {exc}")
        return reading

    def probe(self) -> list[tuple[str, str]]:
        """Not contacted: any request to it would be a delivery."""
        if isinstance(self._key, str):
            return [("error", f"{self.describe()}: environment variable {self._key} is not set")]
        return [("ok", f"{self.describe()}: configured (not contacted: a POST would publish)")]

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
