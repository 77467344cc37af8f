"""Mail and webhook servers on loopback for the notification tests: SMTP (aiosmtpd) and a webhook
(http.server), each in a thread, recording what they accepted and answering as told."""

from __future__ import annotations

import asyncio
import email
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["Hook", "Inbox", "free_port", "self_signed", "smtp_server", "webhook_server"]


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl, two days)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Inbox:
    """The SMTP server's handler: accepted messages, and replies to give instead."""

    messages: list[EmailMessage] = field(default_factory=list)
    #: address -> reply to RCPT TO (e.g. "550 5.1.1 No such user")
    refuse: dict[str, str] = field(default_factory=dict)
    #: a reply to DATA instead of accepting (e.g. "421 4.3.2 Try again later")
    data_reply: str | None = None
    credentials: tuple[str, str] | None = None
    #: DATA commands (counted from 1 over the server's life) whose connection is dropped once
    #: the message arrived, before the 250: the client cannot know whether it was accepted.
    drop: set[int] = field(default_factory=set)
    #: Messages received on a dropped connection (a real server may have queued them).
    dropped: list[EmailMessage] = field(default_factory=list)
    #: When set, DATA waits for it before answering; ``data_arrived`` says a message is waiting.
    hold: threading.Event | None = None
    data_arrived: threading.Event = field(default_factory=threading.Event)
    data_commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.data_commands += 1
            dropping = self.data_commands in self.drop
            (self.dropped if dropping else self.messages).append(message)
        self.data_arrived.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait)
        if dropping:
            server.transport.abort()  # no reply at all: the connection is gone
        return "250 2.0.0 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        # handled=False: the server itself answers 535 on failure.
        return AuthResult(success=ok, handled=False)

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


@contextmanager
def smtp_server(
    *,
    credentials: tuple[str, str] | None = None,
    starttls: tuple[Path, Path] | None = None,
    implicit_tls: tuple[Path, Path] | None = None,
) -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1; with ``credentials`` it requires AUTH (over TLS when
    TLS is configured), with ``starttls``/``implicit_tls`` it serves that certificate."""
    inbox = Inbox(credentials=credentials, port=free_port())
    kwargs: dict[str, Any] = {}
    tls = starttls or implicit_tls
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
    if starttls is not None:
        kwargs["tls_context"] = context
    if credentials is not None:
        kwargs.update(
            authenticator=inbox.authenticate,
            auth_required=True,
            auth_require_tls=tls is not None,
        )
    controller = Controller(
        inbox,
        hostname=inbox.host,
        port=inbox.port,
        ssl_context=context if implicit_tls is not None else None,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class Hook:
    """The webhook server: JSON bodies received and the status to answer with."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    #: Read the request, then close the connection without an answer.
    drop: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies)


@contextmanager
def webhook_server() -> Iterator[Hook]:
    """An HTTP server on 127.0.0.1 recording each POSTed JSON body."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            if hook.drop:
                self.close_connection = True
                return
            status = hook.status
            if 200 <= status < 300:
                with hook.lock:
                    hook.bodies.append(body)
                    hook.headers.append(dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/s3cr3t-path-token"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
