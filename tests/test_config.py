"""Loading policy files: durations, interpolation, validation errors that name file and key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lethe import ConfigError, Duration, load, parse_duration
from lethe.config.interpolate import interpolate
from lethe.config.schema import json_schema

BASE = """
[stores.app]
url = "sqlite:///app.db"

[datasets.surveys]
table = "surveys"
key = "id"
due_column = "deletion_date"

[policies.gov]
dataset = "surveys"
[[policies.gov.actions]]
type = "soft_delete"
[[policies.gov.actions]]
type = "purge"
grace = "30d"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", Duration(seconds=30 * 86400)),
        ("24 months", Duration(months=24)),
        ("30m", Duration(seconds=1800)),
        ("1h30m", Duration(seconds=5400)),
        ("2w", Duration(seconds=14 * 86400)),
        ("1y 2mo", Duration(months=14)),
        ("24h", Duration(seconds=86400)),
    ],
)
def test_durations_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "2 fortnights", "3x", "1h 30", "-5d", "5d ago"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|unit"):
        parse_duration(text)


@given(months=st.integers(0, 60), seconds=st.integers(0, 10**8))
def test_a_duration_prints_as_text_that_parses_back_to_itself(months: int, seconds: int) -> None:
    duration = Duration(months, seconds)
    assert parse_duration(str(duration)) == duration


def test_months_clamp_to_the_end_of_the_month() -> None:
    assert Duration(months=1).before(datetime(2024, 3, 31, tzinfo=UTC)) == datetime(
        2024, 2, 29, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["1001y", "12001mo", "366001d", "99999999999y"])
def test_durations_longer_than_a_thousand_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="longer than 1000 years"):
        parse_duration(text)


@given(
    instant=st.datetimes(timezones=st.just(UTC)),
    months=st.integers(0, 12_000),
    seconds=st.integers(0, 1000 * 366 * 86400),
)
def test_duration_arithmetic_saturates_at_the_ends_of_the_calendar(
    instant: datetime, months: int, seconds: int
) -> None:
    duration = Duration(months, seconds)
    earlier, later = duration.before(instant), duration.after(instant)
    assert earlier <= instant <= later
    assert earlier.tzinfo is not None and later.tzinfo is not None


def test_interpolation_with_defaults_and_errors() -> None:
    env = {"HOST": "db", "EMPTY": ""}
    assert interpolate("pg://${HOST}/${DB:-app}", env, "x") == "pg://db/app"
    assert interpolate("${EMPTY:-fallback}", env, "x") == "fallback"
    assert interpolate("cost $$5", env, "x") == "cost $5"
    with pytest.raises(ConfigError, match="MISSING is not set"):
        interpolate("${MISSING}", env, "lethe.toml: stores.app.url")


def test_a_valid_file_loads_and_defaults_the_single_store() -> None:
    settings = load(BASE)
    assert settings.config.datasets["surveys"].store == "app"
    assert [a.type for a in settings.config.policies["gov"].actions] == ["soft_delete", "purge"]


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text, source="lethe.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('due_column = "deletion_date"', 'due_column = "deletion_date"\nretian = "1d"'),
            "lethe.toml: datasets.surveys.retian: unknown key",
        ),
        (
            ('grace = "30d"', 'grace = "2 fortnights"'),
            "lethe.toml: policies.gov.actions[1].grace: unknown unit 'fortnights'",
        ),
        (('type = "purge"', 'type = "shred"'), "policies.gov.actions[1]: unknown action type"),
        (
            ('dataset = "surveys"', 'dataset = "survey"'),
            "lethe.toml: policies.gov.dataset: unknown dataset 'survey'",
        ),
        (('key = "id"', 'key = "id; drop table x"'), "datasets.surveys.key"),
        (
            ('due_column = "deletion_date"', 'age_column = "created_at"'),
            "datasets.surveys: say when rows are due",
        ),
        (
            ('url = "sqlite:///app.db"', 'url = "${NOPE}"'),
            "lethe.toml: stores.app.url: environment variable NOPE is not set",
        ),
        (("[stores.app]", "version = 2\n[stores.app]"), "lethe.toml: version"),
    ],
)
def test_bad_files_fail_with_one_line_naming_file_and_key(
    change: tuple[str, str], expected: str
) -> None:
    assert expected in _error(BASE.replace(*change, 1))


def test_retention_below_min_retain_is_refused() -> None:
    text = BASE.replace('due_column = "deletion_date"', 'age_column = "created_at"\nretain = "30m"')
    assert "below min_retain 1h" in _error(text)
    assert load(text.replace("[stores.app]", '[limits]\nmin_retain = "10m"\n[stores.app]'))


def test_non_destructive_policies_are_not_held_to_min_retain() -> None:
    text = """
[stores.app]
url = "sqlite:///app.db"
[datasets.runs]
table = "runs"
key = "id"
age_column = "started_at"
retain = "30m"
[policies.stuck]
dataset = "runs"
[[policies.stuck.actions]]
type = "update"
set = { status = "FAILED" }
"""
    assert load(text)


def test_a_phase_reading_what_an_earlier_phase_writes_is_refused() -> None:
    text = BASE.replace(
        'due_column = "deletion_date"',
        'due_column = "deletion_date"\nwhere = [{ column = "deleted_at", is_null = true }]',
    )
    assert "reads deleted_at, which phase [0] (soft_delete) writes" in _error(text)


def test_purge_with_grace_needs_a_soft_delete_column() -> None:
    text = BASE.replace('[[policies.gov.actions]]\ntype = "soft_delete"\n', "")
    assert "needs a soft_delete phase or 'after'" in _error(text)


def test_a_filter_needs_exactly_one_test() -> None:
    text = BASE.replace(
        'due_column = "deletion_date"',
        'due_column = "deletion_date"\nwhere = [{ column = "a", equals = 1, is_null = true }]',
    )
    assert "exactly one of" in _error(text)


def test_toml_syntax_errors_name_the_file() -> None:
    assert _error("[stores.app\nurl=1").startswith("lethe.toml: not valid TOML")


def test_the_committed_json_schema_is_current() -> None:
    committed = Path(__file__).resolve().parents[1] / "schema" / "lethe.schema.json"
    assert json.loads(committed.read_text()) == json_schema(), "run: lethe schema --out " + str(
        committed
    )


@pytest.mark.parametrize("name", ["Task", "tasks.Task.x", "tasks."])
def test_a_model_that_is_not_app_label_dot_model_says_the_form(name: str) -> None:
    text = f"""
[stores.app]
url = "sqlite:///app.db"
[datasets.d]
model = "{name}"
due_column = "due_date"
[policies.p]
dataset = "d"
[[policies.p.actions]]
type = "purge"
"""
    with pytest.raises(ConfigError) as caught:
        load(text, env={})
    assert str(caught.value) == (
        f"lethe.toml: datasets.d.model: must be app_label.ModelName, e.g. surveys.Survey "
        f"(got {name!r})"
    )
