"""A warn phase is validated before anything is touched: the file, then the live store and the
templates (``lethe check``); every problem is one line naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lethe import ConfigError, LiveCheckError
from lethe.cli.app import main
from lethe.config.durations import Duration, parse_duration
from lethe.model.conditions import Before
from lethe.notify.milestones import Milestone, current, due_instant, schedule
from tests.support.apps import NOW, example_policy, seeded
from tests.support.warnings import census_with_warnings

BASE = """
[stores.app]
url = "sqlite:///app.db"
[datasets.d]
table = "t"
key = "id"
due_column = "due"
[policies.p]
dataset = "d"
"""
WARN = """
[[policies.p.actions]]
type = "warn"
before = {before}
recipient = {recipient}
"""
SOFT = """
[[policies.p.actions]]
type = "soft_delete"
"""


def _warn(before: str = '["7d"]', recipient: str = '{ column = "email" }') -> str:
    return WARN.format(before=before, recipient=recipient)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_warn() + _warn(), "policies.p.actions[1]: a policy has at most one warn phase"),
        (SOFT + _warn(), "reads deleted_at, which phase [0] (soft_delete) writes"),
        (_warn('["0d"]'), "a warning needs a lead time above zero"),
        (_warn('["7d", "1w"]'), "a lead time is listed twice"),
        (_warn("[]"), "before"),
        (_warn(recipient='{ column = "a", to = "x@y.z" }'), "give either column"),
        (_warn(recipient='{ column = "a", table = "u" }'), "table and email go together"),
        (_warn(recipient='{ to = "x@y.z", table = "u", email = "e" }'), "takes no table"),
        (_warn(recipient='{ to = " " }'), "to is empty"),
        (
            _warn() + 'sender = { type = "pigeon" }\n',
            "sender: unknown type; use one of django, smtp, webhook",
        ),
        (
            _warn() + 'sender = { type = "webhook", url = "ftp://x/y" }\n',
            "a webhook url is http:// or https://",
        ),
        (_warn() + 'sender = { type = "smtp", port = 0 }\n', "actions[0].sender.port: Input"),
        (_warn() + 'sender = { type = "smtp", security = "ssl" }\n', "sender.security: Input"),
    ],
)
def test_bad_warn_phases_are_refused_at_load(body: str, problem: str) -> None:
    from lethe import load

    with pytest.raises(ConfigError, match=r"lethe\.toml: policies\.p") as caught:
        load(BASE + body, env={})
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        ('table = "auth_user"', ('table = "nope"', "table 'nope' does not exist")),
        ('email = "email"', ('email = "mail"', "table 'auth_user' has no column 'mail'")),
        ('column = "owner_id"', ('column = "owner"', "has no column 'owner'")),
        ('fields = ["name"]', ('fields = ["title"]', "has no column 'title'")),
    ],
)
def test_the_recipient_and_fields_are_checked_against_the_live_database(
    sqlite_url: str, tmp_path: Path, replace: str, problem: tuple[str, str]
) -> None:
    seeded("census", sqlite_url)
    policy = example_policy("census", warnings=True).replace(replace, problem[0])
    with census_with_warnings(sqlite_url, tmp_path, 1, policy) as lethe:
        report = lethe.check()
        assert not report.ok
        assert any(problem[1] in f.message for f in report.findings), report.findings
        with pytest.raises(LiveCheckError, match=r"policies\.data-governance\.actions\[0\]"):
            lethe.run(as_of=NOW)


def test_templates_override_the_defaults_and_errors_name_the_file(
    sqlite_url: str, tmp_path: Path, inbox
) -> None:  # type: ignore[no-untyped-def]
    seeded("census", sqlite_url)
    templates = tmp_path / "mail"
    templates.mkdir()
    (templates / "subject.txt").write_text(
        "[Census] {{ count }} survey{{ 's' if count > 1 else '' }} to be deleted"
    )
    policy = example_policy("census", warnings=True).replace(
        'fields = ["name"]', 'fields = ["name"]\ntemplates = "mail"'
    )
    with census_with_warnings(sqlite_url, tmp_path, inbox.port, policy) as lethe:
        assert lethe.check().ok
        lethe.run(as_of=NOW)
    subjects = sorted(m["Subject"] for m in inbox.received())
    assert subjects == ["[Census] 1 survey to be deleted"] * 2
    assert "retention policy" in inbox.received()[0].get_body(("plain",)).get_content()

    (templates / "body.txt").write_text("{% for item in items %}{{ item.nmae }}{% endfor %}")
    with census_with_warnings(sqlite_url, tmp_path, inbox.port, policy) as lethe:
        report = lethe.check()
    assert any("body.txt" in f.message and "nmae" in f.message for f in report.findings)
    (templates / "body.txt").write_text("{% for item in items %}\n{{ item.key }\n{% endfor %}")
    with (
        census_with_warnings(sqlite_url, tmp_path, inbox.port, policy) as lethe,
        pytest.raises(ConfigError, match=r"mail/body\.txt, line 2"),
    ):
        lethe.plan(as_of=NOW)
    missing = policy.replace('templates = "mail"', 'templates = "nowhere"')
    with (
        census_with_warnings(sqlite_url, tmp_path, inbox.port, missing) as lethe,
        pytest.raises(ConfigError, match=r"templates directory .*nowhere does not exist"),
    ):
        lethe.plan(as_of=NOW)


def test_check_exits_2_on_a_bad_recipient(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    seeded("census", sqlite_url)
    policy = example_policy("census", warnings=True).replace('table = "auth_user"', 'table = "x"')
    (tmp_path / "lethe.toml").write_text(policy)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["check"]) == 2
    assert main(["run"]) == 2
    assert "table 'x' does not exist" in capsys.readouterr().err


# -- milestones, pure ---------------------------------------------------------------------

LEADS = st.lists(st.integers(1, 60 * 24), min_size=1, max_size=5, unique=True)


@given(leads=LEADS, due_in=st.integers(-10_000, 100_000), now_minute=st.integers(0, 10_000))
def test_the_current_milestone_is_the_most_urgent_one_reached(
    leads: list[int], due_in: int, now_minute: int
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    as_of = start + timedelta(minutes=now_minute)
    due = as_of + timedelta(minutes=due_in)
    milestones = schedule(Duration(seconds=60 * m) for m in leads)
    row = {"due": due}

    def due_at(instant: datetime) -> Before:
        return Before("due", instant)

    found = current(due_at, row, as_of, milestones)
    reached = [m for m in leads if due_in <= m]
    if not reached:
        assert found is None
    else:
        assert found == Milestone(Duration(seconds=60 * min(reached)))
    longest = max(leads)
    instant = due_instant(due_at, row, as_of, as_of + timedelta(minutes=longest))
    if due_in <= 0:
        assert instant == as_of
    elif due_in > longest:
        assert instant is None
    else:
        assert instant is not None and abs(instant - due) <= timedelta(seconds=1)


def test_milestone_names_and_labels() -> None:
    names = [
        (m.name, m.label) for m in schedule(map(parse_duration, ["1d", "30d", "2w", "1mo", "12h"]))
    ]
    assert names == [
        ("12h", "12h"), ("1d", "1-day"), ("14d", "14-day"), ("30d", "30-day"), ("1mo", "1-month"),
    ]  # fmt: skip
