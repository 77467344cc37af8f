"""The ``django`` sender: deletion warnings through the project's mail backend (the locmem
backend, and Django's SMTP backend against a real SMTP server), exactly once."""

from __future__ import annotations

import json

import pytest

from tests.django_app.shop import AS_OF, Shop
from tests.support.mail import Inbox, free_port

WARNED = """
[stores.default]
url = "django://default"

[datasets.customers]
table = "shop_customer"
key = "id"
age_column = "closed_at"
retain = "30d"

[policies.closed-accounts]
dataset = "customers"

[[policies.closed-accounts.actions]]
type = "warn"
before = ["7d"]
recipient = { column = "email" }
fields = ["name"]
sender = { type = "django"EXTRA }

[[policies.closed-accounts.actions]]
type = "purge"
"""


def _policy(extra: str = "") -> str:
    return WARNED.replace("EXTRA", extra)


def _seed_due_soon(shop: Shop) -> None:
    """Customer 1 closed 25 days before AS_OF: due in 5 days, inside the 7-day lead."""
    result = shop.script(
        "from datetime import datetime, UTC\n"
        "from shop.models import Customer\n"
        "Customer.objects.create(id=1, name='Ada', email='ada@example.com',"
        " closed_at=datetime(2024, 10, 1, 2, tzinfo=UTC))\n"
        "Customer.objects.create(id=2, name='Bo', email='bo@example.com')\n"
    )
    assert result.code == 0, result.err


RUN_AND_SHOW_OUTBOX = (
    "import json\n"
    "from django.core import mail\n"
    "from django.core.management import call_command\n"
    "for _ in range(2):\n"
    "    call_command('lethe', 'run', '--as-of', '" + AS_OF + "')\n"
    "print('OUTBOX', json.dumps([{'to': m.to, 'from': m.from_email, 'subject': m.subject,"
    " 'id': m.extra_headers.get('Message-ID'), 'html': bool(m.alternatives),"
    " 'body': m.body} for m in getattr(mail, 'outbox', [])]))\n"
)


def _outbox(output: str) -> list[dict[str, object]]:
    line = next(x for x in output.splitlines() if x.startswith("OUTBOX "))
    return list(json.loads(line[len("OUTBOX ") :]))


def test_warnings_go_through_the_projects_backend_once(shop: Shop) -> None:
    _seed_due_soon(shop)
    shop.policy(_policy())
    result = shop.script(RUN_AND_SHOW_OUTBOX)
    assert result.code == 0, result.err
    outbox = _outbox(result.out)
    assert len(outbox) == 1  # two runs, one notice: the delivery ledger is lethe's own
    message = outbox[0]
    assert message["to"] == ["ada@example.com"]
    assert message["from"] == "shop@example.com"  # settings.DEFAULT_FROM_EMAIL
    assert str(message["id"]).endswith("@lethe>")
    assert message["html"] is True
    assert "Ada" in str(message["body"])


def test_from_address_in_the_policy_wins(shop: Shop) -> None:
    _seed_due_soon(shop)
    shop.policy(_policy(', from_address = "privacy@example.org"'))
    outbox = _outbox(shop.script(RUN_AND_SHOW_OUTBOX).out)
    assert [m["from"] for m in outbox] == ["privacy@example.org"]


def _smtp_env(port: int) -> dict[str, str]:
    return {
        "SHOP_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "SHOP_EMAIL_HOST": "127.0.0.1",
        "SHOP_EMAIL_PORT": str(port),
    }


def test_djangos_smtp_backend_delivers_to_a_real_server_exactly_once(
    shop: Shop, inbox: Inbox
) -> None:
    _seed_due_soon(shop)
    shop.policy(_policy())
    shop.env.update(_smtp_env(inbox.port))
    first = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert first.code == 0, first.err
    assert "deletion warnings in 1 message: 7-day: 1" in first.out
    second = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert second.code == 0, second.err
    received = inbox.received()
    assert [m["To"] for m in received] == ["ada@example.com"]
    assert received[0]["Message-ID"].endswith("@lethe>")
    assert received[0]["From"] == "shop@example.com"


def test_notify_test_goes_through_the_django_sender(shop: Shop, inbox: Inbox) -> None:
    shop.policy(_policy())
    shop.env.update(_smtp_env(inbox.port))
    result = shop.manage("lethe", "notify", "test", "dpo@example.org")
    assert result.code == 0, result.err
    assert "django mail (django.core.mail.backends.smtp.EmailBackend" in result.out
    assert [m["To"] for m in inbox.received()] == ["dpo@example.org"]


@pytest.mark.parametrize(
    ("refuse", "code", "said"),
    [
        (None, 8, "cannot connect (connection refused)"),
        ("550 5.1.1 No such user", 11, "refused the recipient: 550 5.1.1 No such user"),
    ],
)
def test_delivery_failures_keep_lethes_exit_codes(
    shop: Shop, inbox: Inbox, refuse: str | None, code: int, said: str
) -> None:
    shop.policy(_policy())
    port = inbox.port
    if refuse is None:
        port = free_port()
    else:
        inbox.refuse["dpo@example.org"] = refuse
    shop.env.update(_smtp_env(port))
    result = shop.manage("lethe", "notify", "test", "dpo@example.org")
    assert result.code == code
    assert said in result.err
    assert "Traceback" not in result.err


def test_a_backend_named_in_the_policy_carries_lethes_mail_only(shop: Shop) -> None:
    _seed_due_soon(shop)
    shop.policy(_policy(', backend = "django.core.mail.backends.locmem.EmailBackend"'))
    shop.env.update(_smtp_env(free_port()))  # the project's own backend: nothing listens
    outbox = _outbox(shop.script(RUN_AND_SHOW_OUTBOX).out)
    assert [m["to"] for m in outbox] == [["ada@example.com"]]


def test_another_backends_error_is_an_unknown_outcome(shop: Shop) -> None:
    shop.policy(_policy(', backend = "shop.mail_backends.FailingProvider"'))
    result = shop.manage("lethe", "notify", "test", "dpo@example.org")
    assert result.code == 8
    assert "RuntimeError: provider API answered 502 Bad Gateway" in result.err
    assert "the message may have been delivered" in result.err
    assert "Traceback" not in result.err


def test_a_backend_that_does_not_import_is_one_line_exit_2(shop: Shop) -> None:
    shop.policy(_policy(', backend = "shop.nosuch.Backend"'))
    result = shop.manage("lethe", "notify", "test", "dpo@example.org")
    assert result.code == 2
    assert "mail backend 'shop.nosuch.Backend' cannot be imported" in result.err
    assert len(result.err.strip().splitlines()) == 1
