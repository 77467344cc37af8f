"""``type = "webhook"``: each run head POSTed as JSON to an endpoint you keep elsewhere.

The body is the head document (``{"version": 1, "kind": "lethe.run_head", "run_id": …,
"entry": …, "hash": …, "signature": …, "key_id": …, "ts": …}``); with ``secret_env`` set,
``X-Lethe-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes under that
variable's value, so the receiver can tell lethe's posts from anyone else's. Any 2xx reply is
an acceptance. A webhook cannot be read back: the state database records when each head was
delivered and what the endpoint answered, and ``lethe audit verify`` reports those heads as
delivered, not checkable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from lethe import secrets
from lethe.errors import ConfigError
from lethe.evidence.anchors.base import AnchorConfig, AnchorError, Head
from lethe.evidence.anchors.registry import register

__all__ = ["WebhookAnchor", "WebhookAnchorConfig"]


@register("webhook")
class WebhookAnchorConfig(AnchorConfig):
    """POST each run head to ``url``::

    [[evidence.anchors]]
    type = "webhook"
    url = "https://evidence.example.org/lethe/heads"
    secret_env = "LETHE_ANCHOR_SECRET"     # optional: signs each body (HMAC-SHA256)
    """

    type: Literal["webhook"] = "webhook"
    url: str
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook url is http:// or https:// with a host")
        secret = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
        if len(secret) >= 8:  # a token in the path or query is a credential: never printed
            secrets.register(secret)
        return value

    def build(self, base_dir: Path, env: Mapping[str, str]) -> WebhookAnchor:
        key = None
        if self.secret_env:
            value = env.get(self.secret_env)
            if not value:
                raise ConfigError(
                    f"environment variable {self.secret_env} is not set",
                    "evidence.anchors.secret_env",
                )
            secrets.register(value)
            key = value.encode()
        return WebhookAnchor(self.label, self.url, key, self.timeout)


class WebhookAnchor:
    """One HTTP client per publishing pass."""

    def __init__(self, name: str, url: str, key: bytes | None, timeout: float) -> None:
        self.name = name
        self.url = url
        self._key = key
        self._timeout = timeout
        self._client: httpx.Client | None = None

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.netloc}"

    def publish(self, head: Head) -> str:
        body = json.dumps(head.document(), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{head.run_id}:{head.hash}",
        }
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

    def read(self) -> None:
        """A webhook keeps nothing lethe can read back."""
        return None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
