"""``lethe notify test ADDRESS``: is the sender configured right? (the seeds' "No emails being
sent" troubleshooting, as one command with one exit code per cause)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lethe import secrets
from lethe.cli.context import state
from lethe.errors import (
    DeliveryError,
    DeliveryRejectedError,
    SenderAuthError,
    SenderTLSError,
    SenderUnreachableError,
)

__all__ = ["register"]

notify_app = typer.Typer(help="Deletion warnings: check the sender.", no_args_is_help=True)

_HINTS: list[tuple[type[DeliveryError], str]] = [
    (
        SenderUnreachableError,
        "check EMAIL_HOST and EMAIL_PORT (or the webhook url) and that "
        "the server is up and reachable from here",
    ),
    (
        SenderTLSError,
        "check security (starttls on 587, tls on 465, none) and the server's "
        "certificate (ca_file, or verify = false for a test server)",
    ),
    (SenderAuthError, "check EMAIL_HOST_USER and EMAIL_HOST_PASSWORD (or the webhook's headers)"),
    (
        DeliveryRejectedError,
        "the server refused this message: check the address, "
        "DEFAULT_FROM_EMAIL (the sender must be allowed to send), and the server's reply above",
    ),
]


@notify_app.command("test")
def notify_test(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Where to send the test message.")],
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help="Use this policy's warn phase's sender.")
    ] = None,
) -> None:
    """Send one test message; on failure say what went wrong (exit 8 unreachable, 9 TLS,
    10 authentication, 11 rejected)."""
    cli = state(ctx)
    try:
        delivery = cli.lethe().notify_test(address, policy=policy)
    except DeliveryError as exc:
        print(f"lethe: error: {secrets.scrub(str(exc))}", file=sys.stderr)
        hint = next(text for kind, text in _HINTS if isinstance(exc, kind))
        print(f"lethe: hint: {hint}", file=sys.stderr)
        raise typer.Exit(int(exc.exit_code)) from None
    cli.console.print(
        f"Test message to {delivery.recipient} accepted ({delivery.reply}).", markup=False
    )


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.add_typer(notify_app, name="notify")
