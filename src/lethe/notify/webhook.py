"""A JSON POST to a webhook (a chat channel, a ticket system, your own endpoint), with httpx.

The body is the notice as data plus its rendered text (``text`` is what Slack-style incoming
webhooks display)::

    {"version": 1, "kind": "lethe.deletion_warning", "policy": "…", "dataset": "…",
     "recipient": "…", "subject": "…", "text": "…", "message_id": "<…@lethe>",
     "items": [{"key": "6", "milestone": "30d", "label": "30-day", "due": "…",
                "deletes_at": "…", "fields": {…}}]}

Any 2xx reply is an acceptance; the ``Idempotency-Key`` header repeats the message id.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lethe import secrets
from lethe.errors import (
    DeliveryRejectedError,
    DeliveryUnknownError,
    SenderAuthError,
    SenderTLSError,
    SenderUnreachableError,
)
from lethe.notify.base import Message, Receipt, SenderConfig
from lethe.notify.registry import register

if TYPE_CHECKING:
    # httpx (and the ssl, h11 and rich modules it brings, ~20 MB) is imported by the methods
    # that send: loading a policy that names a webhook, or running one that never warns, does
    # not need it (tests/test_lazy_imports.py).
    import httpx

__all__ = ["Webhook", "WebhookSender"]


@register("webhook")
class Webhook(SenderConfig):
    """POST each message as JSON to ``url`` (its path and query are treated as secret)::

    sender = { type = "webhook", url = "${CHAT_WEBHOOK_URL}" }
    """

    type: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=600)
    ca_file: str | None = Field(default=None, description="Trust this CA bundle for TLS.")
    verify: bool = Field(default=True, description="Verify the server's TLS certificate.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook url is http:// or https:// with a host")
        # Chat webhooks carry their credential in the path: never print it.
        secret = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
        if len(secret) >= 8:
            secrets.register(secret)
        return value

    @field_validator("headers")
    @classmethod
    def _secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for header in value.values():
            secrets.register(header)
        return value

    def build(self) -> WebhookSender:
        return WebhookSender(self)

    def describe(self) -> str:
        """``webhook https://chat.example.org`` (no path: it may hold the secret)."""
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.netloc}"


class WebhookSender:
    """One HTTP client per run."""

    def __init__(self, config: Webhook) -> None:
        self.config = config
        self._client: httpx.Client | None = None

    def describe(self) -> str:
        return self.config.describe()

    def send(self, message: Message) -> Receipt:
        import httpx

        client = self._client or self._open()
        self._client = client
        headers = {**self.config.headers, "Idempotency-Key": message.message_id.strip("<>")}
        body = {
            "version": 1,
            "kind": "lethe.deletion_warning",
            **message.payload,
            "recipient": message.recipient,
            "subject": message.subject,
            "text": message.text,
            "message_id": message.message_id,
        }
        where = self.describe()
        try:
            reply = client.post(self.config.url, json=body, headers=headers)
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            # The request was written; the answer never came: it may have been processed.
            raise DeliveryUnknownError(
                f"{where}: no answer after the request was sent ({_short(exc)}); it may have "
                "been delivered"
            ) from None
        except httpx.TimeoutException:
            raise SenderUnreachableError(f"{where}: timed out") from None
        except httpx.TransportError as exc:
            if _tls_failure(exc):
                raise SenderTLSError(f"{where}: TLS failed ({_short(exc)})") from None
            raise SenderUnreachableError(f"{where}: cannot connect ({_short(exc)})") from None
        if reply.status_code in (401, 403):
            raise SenderAuthError(f"{where}: refused the credentials (HTTP {reply.status_code})")
        if not reply.is_success:
            status = reply.status_code
            raise DeliveryRejectedError(
                f"{where} answered HTTP {status} {reply.reason_phrase}".rstrip(),
                code=status,
                temporary=status >= 500 or status in (408, 425, 429),
            )
        return Receipt(reply=f"HTTP {reply.status_code}")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _open(self) -> httpx.Client:
        import httpx

        verify: ssl.SSLContext | bool = self.config.verify
        if self.config.verify and self.config.ca_file:
            verify = ssl.create_default_context(cafile=self.config.ca_file)
        return httpx.Client(timeout=self.config.timeout, verify=verify, follow_redirects=False)


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(exc) or "certificate" in str(exc).lower()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return secrets.scrub(text.splitlines()[0])
