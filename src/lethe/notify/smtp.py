"""Email through an SMTP server (``smtplib``), with STARTTLS or implicit TLS.

Every key left out of the policy file is read from the environment variables Django
deployments already set: ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
``EMAIL_HOST_PASSWORD``, ``DEFAULT_FROM_EMAIL``, ``EMAIL_USE_TLS`` (STARTTLS),
``EMAIL_USE_SSL`` (implicit TLS) and ``EMAIL_TIMEOUT``.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from lethe import secrets
from lethe.errors import (
    DeliveryError,
    DeliveryRejectedError,
    DeliveryUnknownError,
    SenderAuthError,
    SenderTLSError,
    SenderUnreachableError,
)
from lethe.notify.base import Message, Receipt, SenderConfig
from lethe.notify.environment import environment, truthy
from lethe.notify.registry import register

__all__ = ["SMTP", "SMTPSender", "connect_error", "failure_reason", "rejected", "reply_text"]

_ENV = {
    "host": "EMAIL_HOST",
    "port": "EMAIL_PORT",
    "username": "EMAIL_HOST_USER",
    "password": "EMAIL_HOST_PASSWORD",
    "from_address": "DEFAULT_FROM_EMAIL",
    "timeout": "EMAIL_TIMEOUT",
}
_DEFAULT_PORT = {"tls": 465, "starttls": 587, "none": 25}
# Deliberately loose: the server has the last word; this only refuses what cannot be an address.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


@register("smtp")
class SMTP(SenderConfig):
    """Send email through an SMTP server. Keys left out come from the environment::

    sender = { type = "smtp", host = "smtp.example.org", port = 587, security = "starttls" }
    """

    type: Literal["smtp"] = "smtp"
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="none",
        description="starttls (upgrade, usually port 587), tls (implicit, 465) or none.",
    )
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "lethe@localhost"
    timeout: float = Field(default=30.0, gt=0, le=600)
    ca_file: str | None = Field(default=None, description="Trust this CA bundle for TLS.")
    verify: bool = Field(default=True, description="Verify the server's TLS certificate.")

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        env = environment(info)
        filled = dict(data)
        for key, variable in _ENV.items():
            if key not in filled and env.get(variable):
                filled[key] = env[variable]
        if "security" not in filled:
            filled["security"] = _security(env, filled.get("port"))
        if "port" not in filled:
            filled["port"] = _DEFAULT_PORT.get(str(filled["security"]), 25)
        password = filled.get("password")
        if isinstance(password, str):
            secrets.register(password)
        return filled

    def build(self) -> SMTPSender:
        return SMTPSender(self)

    def describe(self) -> str:
        """``smtp://host:port (STARTTLS) as user``."""
        mode = {"starttls": " (STARTTLS)", "tls": " (TLS)", "none": ""}[self.security]
        user = f" as {self.username}" if self.username else ""
        return f"smtp://{self.host}:{self.port}{mode}{user}"


def _security(env: Any, port: Any) -> str:
    if truthy(env.get("EMAIL_USE_SSL")):
        return "tls"
    if truthy(env.get("EMAIL_USE_TLS")):
        return "starttls"
    return {"465": "tls", "587": "starttls"}.get(str(port or env.get("EMAIL_PORT") or ""), "none")


class SMTPSender:
    """One SMTP session, opened on the first message and reused for the rest of the run."""

    def __init__(self, config: SMTP) -> None:
        self.config = config
        self._session: _Session | None = None

    def describe(self) -> str:
        return self.config.describe()

    def send(self, message: Message) -> Receipt:
        if not _ADDRESS.match(message.recipient):
            raise DeliveryRejectedError(
                "not an email address (refused before sending)", code=None, temporary=False
            )
        reused = self._session is not None
        try:
            return self._send_once(message)
        except DeliveryUnknownError:
            raise  # it may have arrived: never sent twice in one run
        except SenderUnreachableError:
            if not reused:
                raise
            # The server closed a session that sat idle between messages before it took this
            # one (the loss came before DATA): reconnect once.
            return self._send_once(message)

    def _send_once(self, message: Message) -> Receipt:
        session = self._session or self._connect()
        self._session = session
        session.handed_over = False
        try:
            session.send_message(_email(message, self.config.from_address))
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            raise rejected(self.describe(), "refused the recipient", code, reply) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self.close()
            raise rejected(
                self.describe(), "refused the message", exc.smtp_code, exc.smtp_error
            ) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise rejected(self.describe(), "answered", exc.smtp_code, exc.smtp_error) from None
        except OSError as exc:  # SMTPServerDisconnected too: smtplib's errors are OSErrors
            self.close()
            if session.handed_over:
                raise DeliveryUnknownError(
                    f"{self.describe()}: connection lost after DATA, before the server "
                    f"answered ({failure_reason(exc)}); the message may have been delivered"
                ) from None
            raise SenderUnreachableError(
                f"{self.describe()}: connection lost ({failure_reason(exc)})"
            ) from None
        return Receipt(reply=f"accepted by {self.describe()}")

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):
                session.close()

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> _Session:
        """Open, secure and log in, translating each failure to its cause."""
        try:
            return self._open()
        except (SenderTLSError, SenderAuthError):
            raise
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            raise connect_error(self.describe(), exc) from None

    def _open(self) -> _Session:
        c = self.config
        session: _Session
        if c.security == "tls":
            session = _TLSSession(c.host, c.port, timeout=c.timeout, context=self._tls_context())
        else:
            session = _Session(c.host, c.port, timeout=c.timeout)
        try:
            session.ehlo()
            if c.security == "starttls":
                if not session.has_extn("starttls"):
                    raise SenderTLSError(f"{self.describe()}: the server does not offer STARTTLS")
                session.starttls(context=self._tls_context())
                session.ehlo()
            if c.username:
                password = c.password.get_secret_value() if c.password else ""
                session.login(c.username, password)
        except BaseException:
            session.close()
            raise
        return session


class _Session(smtplib.SMTP):
    """An SMTP session that knows whether the current message was handed over: once DATA is
    sent, a lost connection leaves its outcome unknown (the server may have queued it)."""

    handed_over = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.handed_over = True
        return super().data(msg)


class _TLSSession(_Session, smtplib.SMTP_SSL):
    """The same over implicit TLS."""


def connect_error(where: str, exc: ssl.SSLError | smtplib.SMTPException | OSError) -> DeliveryError:
    """The sender error for ``exc``, raised while opening, securing or logging in to an SMTP
    session at ``where`` (shared by every sender that speaks SMTP, e.g. Django's backend)."""
    if isinstance(exc, ssl.SSLError):  # certificate errors are SSLErrors too
        return SenderTLSError(f"{where}: TLS failed ({failure_reason(exc)})")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SenderAuthError(
            f"{where}: authentication failed ({exc.smtp_code} {reply_text(exc.smtp_error)})"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SenderAuthError(f"{where}: cannot log in ({exc})")
    if isinstance(exc, smtplib.SMTPConnectError):
        return rejected(where, "refused the connection", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return rejected(where, "answered", exc.smtp_code, exc.smtp_error)
    return SenderUnreachableError(f"{where}: cannot connect ({failure_reason(exc)})")


def reply_text(reply: bytes | str) -> str:
    """An SMTP reply as one line, secrets scrubbed."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return secrets.scrub(" ".join(text.split()))


def failure_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words, secrets scrubbed."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return secrets.scrub(str(exc) or type(exc).__name__)


def rejected(where: str, verb: str, code: int, reply: bytes | str) -> DeliveryRejectedError:
    """The server at ``where`` answered ``code`` to what ``verb`` says (4xx: try again later)."""
    return DeliveryRejectedError(
        f"{where} {verb}: {code} {reply_text(reply)}".rstrip(),
        code=code,
        temporary=400 <= code < 500,
    )


def _email(message: Message, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id
    email["Date"] = formatdate(usegmt=True)
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email
