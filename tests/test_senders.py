"""Senders against real servers on loopback: what arrives, and each way delivery fails, with
its own exit code from ``lethe notify test``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe import ConfigError
from lethe.cli.app import main
from lethe.errors import (
    DeliveryRejectedError,
    DeliveryUnknownError,
    SenderAuthError,
    SenderTLSError,
    SenderUnreachableError,
)
from lethe.notify.probe import send_test
from lethe.notify.smtp import SMTP
from lethe.notify.webhook import Webhook
from tests.support.mail import Hook, Inbox, free_port, smtp_server


def _smtp(**keys: object) -> SMTP:
    return SMTP.model_validate({"type": "smtp", "host": "127.0.0.1", **keys}, context={"env": {}})


def test_smtp_delivers_a_plain_message(inbox: Inbox) -> None:
    delivery = send_test(_smtp(port=inbox.port, from_address="dpo@example.org"), "a@example.org")
    assert delivery.recipient == "a@example.org"
    (message,) = inbox.received()
    assert message["To"] == "a@example.org" and message["From"] == "dpo@example.org"
    assert message["Subject"] == "lethe test message"
    assert message["Message-ID"].endswith("@lethe>")


def test_smtp_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    with smtp_server(credentials=("lethe", "pw-1234"), starttls=certificate) as inbox:
        config = _smtp(
            port=inbox.port,
            security="starttls",
            username="lethe",
            password="pw-1234",
            ca_file=str(certificate[0]),
        )
        send_test(config, "a@example.org")
        assert len(inbox.received()) == 1
        with pytest.raises(SenderAuthError, match=r"authentication failed.*535"):
            send_test(config.model_copy(update={"password": None}), "a@example.org")


def test_smtp_implicit_tls_verifies_the_certificate(certificate: tuple[Path, Path]) -> None:
    with smtp_server(implicit_tls=certificate) as inbox:
        trusted = _smtp(port=inbox.port, security="tls", ca_file=str(certificate[0]))
        send_test(trusted, "a@example.org")
        assert len(inbox.received()) == 1
        with pytest.raises(SenderTLSError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            send_test(_smtp(port=inbox.port, security="tls"), "a@example.org")


def test_starttls_refused_when_the_server_does_not_offer_it(inbox: Inbox) -> None:
    with pytest.raises(SenderTLSError, match="does not offer STARTTLS"):
        send_test(_smtp(port=inbox.port, security="starttls"), "a@example.org")


def test_smtp_server_down_is_unreachable() -> None:
    with pytest.raises(SenderUnreachableError, match="connection refused"):
        send_test(_smtp(port=free_port()), "a@example.org")


@pytest.mark.parametrize(
    ("refuse", "data", "code", "temporary"),
    [
        ({"a@example.org": "550 5.1.1 No such user"}, None, 550, False),
        ({}, "421 4.3.2 Service not available, try later", 421, True),
        ({}, "554 5.7.1 Message rejected as spam", 554, False),
    ],
)
def test_smtp_rejections_carry_the_reply_code(
    inbox: Inbox, refuse: dict[str, str], data: str | None, code: int, temporary: bool
) -> None:
    inbox.refuse.update(refuse)
    inbox.data_reply = data
    with pytest.raises(DeliveryRejectedError) as caught:
        send_test(_smtp(port=inbox.port), "a@example.org")
    assert caught.value.code == code and caught.value.temporary is temporary
    assert str(code) in str(caught.value)
    assert inbox.received() == []


def test_a_malformed_address_is_refused_before_sending(inbox: Inbox) -> None:
    with pytest.raises(DeliveryRejectedError, match="not an email address"):
        send_test(_smtp(port=inbox.port), "not-an-address")


def test_smtp_defaults_come_from_the_django_environment() -> None:
    env = {
        "EMAIL_HOST": "mail.example.org",
        "EMAIL_PORT": "587",
        "EMAIL_HOST_USER": "census",
        "EMAIL_HOST_PASSWORD": "hunter2-long",
        "DEFAULT_FROM_EMAIL": "noreply@example.org",
    }
    config = SMTP.model_validate({"type": "smtp"}, context={"env": env})
    assert (config.host, config.port, config.security) == ("mail.example.org", 587, "starttls")
    assert config.username == "census" and config.from_address == "noreply@example.org"
    assert config.password is not None and config.password.get_secret_value() == "hunter2-long"
    assert "hunter2" not in repr(config) and "hunter2" not in config.describe()
    tls = SMTP.model_validate({"type": "smtp"}, context={"env": {"EMAIL_USE_SSL": "True"}})
    assert (tls.security, tls.port) == ("tls", 465)
    own = SMTP.model_validate({"type": "smtp", "host": "own"}, context={"env": env})
    assert own.host == "own"  # the file wins


def test_webhook_posts_json_with_an_idempotency_key(hook: Hook) -> None:
    delivery = send_test(Webhook(url=hook.url, headers={"X-Team": "dpo"}), "#retention")
    assert delivery.reply == "HTTP 200"
    (body,) = hook.received()
    assert body["kind"] == "lethe.test" and body["recipient"] == "#retention"
    assert "test message" in body["text"]
    assert hook.headers[0]["Idempotency-Key"] == body["message_id"].strip("<>")
    assert hook.headers[0]["X-Team"] == "dpo"


@pytest.mark.parametrize(
    ("status", "error", "temporary"),
    [
        (500, DeliveryRejectedError, True),
        (404, DeliveryRejectedError, False),
        (401, SenderAuthError, True),
    ],
)
def test_webhook_failures(hook: Hook, status: int, error: type[Exception], temporary: bool) -> None:
    hook.status = status
    with pytest.raises(error) as caught:
        send_test(Webhook(url=hook.url), "#retention")
    assert getattr(caught.value, "temporary", True) is temporary
    assert "s3cr3t-path-token" not in str(caught.value)  # the path is the credential


def test_a_request_without_an_answer_is_an_unknown_outcome(hook: Hook) -> None:
    """The receiver read the POST and closed without answering: it may have acted on it."""
    hook.drop = True
    with pytest.raises(DeliveryUnknownError, match="may have been delivered") as caught:
        send_test(Webhook(url=hook.url), "#retention")
    assert "s3cr3t-path-token" not in str(caught.value)


def test_smtp_connection_dropped_after_data_is_an_unknown_outcome(inbox: Inbox) -> None:
    inbox.drop = {1}
    with pytest.raises(DeliveryUnknownError, match="after DATA"):
        send_test(_smtp(port=inbox.port), "x@example.org")
    assert len(inbox.dropped) == 1 and inbox.received() == []


def test_webhook_down_and_bad_urls() -> None:
    with pytest.raises(SenderUnreachableError, match="connection refused"):
        send_test(Webhook(url=f"http://127.0.0.1:{free_port()}/x"), "#retention")
    with pytest.raises(ValueError, match="http:// or https://"):
        Webhook(url="ftp://example.org/x")


POLICY = """
[stores.app]
url = "sqlite:///app.db"
[datasets.d]
table = "t"
key = "id"
due_column = "due"
[policies.p]
dataset = "d"
[[policies.p.actions]]
type = "warn"
before = ["7d"]
recipient = {{ to = "dpo@example.org" }}
sender = {{ type = "smtp", host = "127.0.0.1", port = {port}{extra} }}
"""


@pytest.mark.parametrize(
    ("setup", "code", "said"),
    [
        ("down", 8, "cannot connect (connection refused)"),
        ("tls", 9, "TLS failed"),
        ("auth", 10, "authentication failed"),
        ("550", 11, "550 5.1.1 No such user"),
        ("ok", 0, "accepted"),
    ],
)
def test_notify_test_says_what_went_wrong_with_one_exit_code_each(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    certificate: tuple[Path, Path],
    setup: str,
    code: int,
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    kwargs: dict[str, object] = {}
    extra = ""
    if setup == "tls":
        kwargs["implicit_tls"] = certificate
        extra = ', security = "tls"'
    if setup == "auth":
        kwargs.update(credentials=("lethe", "right-password"), starttls=certificate)
        extra = (
            ', security = "starttls", username = "lethe", password = "wrong-password", '
            f'ca_file = "{certificate[0]}"'
        )
    with smtp_server(**kwargs) as inbox:  # type: ignore[arg-type]
        port = free_port() if setup == "down" else inbox.port
        if setup == "550":
            inbox.refuse["x@example.org"] = "550 5.1.1 No such user"
        (tmp_path / "lethe.toml").write_text(POLICY.format(port=port, extra=extra))
        assert main(["notify", "test", "x@example.org"]) == code
    captured = capsys.readouterr()
    assert said in captured.out + captured.err
    assert "wrong-password" not in captured.out + captured.err
    if code:
        assert "hint:" in captured.err


def test_notify_test_needs_a_policy_name_when_senders_differ(tmp_path: Path) -> None:
    from lethe import Lethe

    second = f"""
[policies.q]
dataset = "d"
[[policies.q.actions]]
type = "warn"
before = ["7d"]
recipient = {{ to = "dpo@example.org" }}
sender = {{ type = "webhook", url = "http://127.0.0.1:{free_port()}/hook" }}
"""
    lethe = Lethe.from_toml(POLICY.format(port=1, extra="") + second, base_dir=tmp_path, env={})
    with pytest.raises(ConfigError, match="name one with --policy"):
        lethe.notify_test("x@example.org")
    with pytest.raises(ConfigError, match="has no warn phase"):
        lethe.notify_test("x@example.org", policy="nope")
    with pytest.raises(SenderUnreachableError, match=r"webhook http://127\.0\.0\.1"):
        lethe.notify_test("x@example.org", policy="q")
