"""A mail backend standing in for an email service provider's whose API call fails after the
request went out (Anymail raises its own errors then): the outcome is unknown to the sender."""

from typing import Any

from django.core.mail.backends.base import BaseEmailBackend


class FailingProvider(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise RuntimeError("provider API answered 502 Bad Gateway")
