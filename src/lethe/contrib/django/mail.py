"""The ``django`` sender's live half: a notice as a ``django.core.mail`` message.

One backend connection is opened on the first message and reused for the run. The notice's
stable ``message_id`` goes out as its ``Message-ID`` header, so a resend after an unknown
outcome is recognisable as the same message; lethe's delivery ledger decides what is sent,
exactly as with the ``smtp`` sender. Failures become lethe's delivery errors: with Django's
SMTP backend by their SMTP cause; any other backend's error leaves the outcome unknown (the
message may have gone), so it is not resent in the same run.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from lethe.errors import ConfigError, DeliveryRejectedError, DeliveryUnknownError
from lethe.notify.base import Message, Receipt
from lethe.notify.smtp import connect_error, failure_reason, rejected

if TYPE_CHECKING:
    from lethe.notify.django_mail import DjangoMail

__all__ = ["DjangoMailSender"]


class DjangoMailSender:
    """Sends through ``get_connection(config.backend)``: the project's backend by default."""

    def __init__(self, config: DjangoMail) -> None:
        if not settings.configured:
            raise ConfigError(
                "the django sender sends through the Django project's mail settings: "
                "run the command as `python manage.py lethe`"
            )
        self.config = config
        self.backend = config.backend or settings.EMAIL_BACKEND
        self.from_address = config.from_address or settings.DEFAULT_FROM_EMAIL
        self._connection: Any = None

    def describe(self) -> str:
        """``django mail (….EmailBackend, smtp://host:port)``: no user, no password."""
        where = ""
        if self.backend == "django.core.mail.backends.smtp.EmailBackend":
            where = f", smtp://{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        return f"django mail ({self.backend}{where})"

    def send(self, message: Message) -> Receipt:
        connection = self._open()
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=self.from_address,
            to=[message.recipient],
            headers={"Message-ID": message.message_id},
            connection=connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            sent = connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            raise rejected(self.describe(), "refused the recipient", code, reply) from None
        except smtplib.SMTPResponseException as exc:
            raise rejected(self.describe(), "answered", exc.smtp_code, exc.smtp_error) from None
        except Exception as exc:
            self.close()
            raise DeliveryUnknownError(
                f"{self.describe()}: sending failed ({type(exc).__name__}: {failure_reason(exc)}); "
                "the message may have been delivered"
            ) from None
        if not sent:
            raise DeliveryRejectedError(
                f"{self.describe()}: the backend sent nothing", code=None, temporary=True
            )
        return Receipt(reply=f"accepted by {self.describe()}")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):  # gone either way
                connection.close()

    def _open(self) -> Any:
        if self._connection is not None:
            return self._connection
        where = self.describe()
        try:
            connection = get_connection(self.backend, fail_silently=False)
            connection.open()
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            raise connect_error(where, exc) from None
        except ImportError as exc:
            raise ConfigError(f"mail backend {self.backend!r} cannot be imported ({exc})") from None
        self._connection = connection
        return connection
