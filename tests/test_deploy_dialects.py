"""Each translated schedule fires at exactly the canonical slots, checked by each dialect's own
evaluator: cronsim on the five-field text, aws-croniter for AWS cron, ``systemd-analyze
calendar`` for systemd timers; and every translator refuses what it cannot express."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aws_croniter import AwsCroniter
from cronsim import CronSim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lethe.deploy.dialects import (
    CronDialect,
    Unsupported,
    aws_expressions,
    heroku_frequency,
    on_calendar,
    windows_triggers,
)
from lethe.deploy.fields import CronFields
from lethe.schedule.cron import Schedule

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
# The seeds' schedules and the shapes that trip translators: names, 7 for Sunday, ranges with
# steps, day-of-month with day-of-week (cron ORs them), months.
SCHEDULES = [
    "0 2 * * *",
    "0 3 * * *",
    "0 4 * * 0",
    "0 * * * *",
    "2-59/5 * * * *",
    "*/10 * * * *",
    "30 9 * JAN-MAR 1-5",
    "0 0 13 * FRI",
    "5-5/2 1 * * 5-7",
    "15 6,18 1,15 * *",
    "0 12 * * 7",
    "45 23 28-31 2 *",
    "0 */6 * * SAT,SUN",
]
STANDARD = [
    CronDialect("Kubernetes"),
    CronDialect("Northflank", names=False, steps=False),
    CronDialect("Debian cron", debian_days=True),
]


def slots(expression: str, zone: str = "UTC", span: timedelta = YEAR) -> list[datetime]:
    found = []
    for slot in Schedule.parse(expression, zone).after(START - timedelta(minutes=1)):
        if slot >= START + span:
            return found
        found.append(slot)
    return found


def cronsim_firings(expression: str, span: timedelta = YEAR) -> list[datetime]:
    found = []
    for instant in CronSim(expression, START - timedelta(minutes=1)):
        if instant >= START + span:
            return found
        found.append(instant)
    return found


def aws_firings(expressions: list[str], span: timedelta = YEAR) -> list[datetime]:
    found: set[datetime] = set()
    for expression in expressions:
        body = expression.removeprefix("cron(").removesuffix(")")
        end = START + span - timedelta(minutes=1)
        found.update(AwsCroniter(body).get_all_schedule_bw_dates(START, end))
    return sorted(found)


def systemd_firings(values: list[str], count: int) -> list[datetime]:
    """``systemd-analyze calendar`` itself: the next ``count`` elapses of each expression."""
    found: set[datetime] = set()
    for value in values:
        out = subprocess.run(
            ["systemd-analyze", "calendar", f"--iterations={count}",
             f"--base-time={(START - timedelta(minutes=1)):%Y-%m-%d %H:%M:%S} UTC", value],
            capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"},
        ).stdout  # fmt: skip
        for stamp in re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", out):
            found.add(datetime.fromisoformat(stamp).replace(tzinfo=UTC))
    return sorted(found)


@pytest.mark.parametrize("expression", SCHEDULES)
@pytest.mark.parametrize("dialect", STANDARD, ids=lambda d: d.platform)
def test_five_field_dialects_fire_at_the_canonical_slots(
    dialect: CronDialect, expression: str
) -> None:
    translated = dialect.translate(CronFields.of(Schedule.parse(expression)))
    assert cronsim_firings(translated) == slots(expression)
    if dialect.platform == "Northflank":
        assert "/" not in translated and not re.search("[A-Z]", translated)
    assert not re.search(r"(^|\D)7(\D|$)", translated.split(" ")[4])  # Kubernetes rejects 7


@pytest.mark.parametrize("expression", SCHEDULES)
def test_aws_expressions_fire_at_the_canonical_slots(expression: str) -> None:
    translated = aws_expressions(CronFields.of(Schedule.parse(expression)))
    span = YEAR if not expression.startswith(("*", "2-59")) else timedelta(days=20)
    assert aws_firings(translated, span) == slots(expression, span=span)


def test_aws_splits_a_schedule_restricting_both_day_fields() -> None:
    assert aws_expressions(CronFields.of(Schedule.parse("0 0 13 * FRI"))) == [
        "cron(0 0 13 * ? *)",
        "cron(0 0 ? * FRI *)",
    ]
    assert aws_expressions(CronFields.of(Schedule.parse("0 4 * * 0"))) == ["cron(0 4 ? * SUN *)"]


@pytest.mark.parametrize(
    "expression",
    ["0 2 * * *", "0 4 * * 0", "30 9 * JAN-MAR 1-5", "0 0 13 * FRI", "15 6,18 1,15 * *"],
)
def test_systemd_calendar_fires_at_the_canonical_slots(expression: str) -> None:
    expected = slots(expression)
    values = on_calendar(CronFields.of(Schedule.parse(expression)), "UTC")
    assert systemd_firings(values, len(expected))[: len(expected)] == expected


def test_systemd_skips_a_time_the_clocks_jump_over_which_is_why_lethe_refuses_it() -> None:
    # Sydney springs forward at 02:00 on 2026-10-04: cron (and lethe) run the 02:00 job at
    # 03:00 that day; systemd does not run it at all.
    expected = [s for s in slots("0 2 * * *", "Australia/Sydney") if s.month in (9, 10)]
    values = on_calendar(
        CronFields.of(Schedule.parse("0 2 * * *", "Australia/Sydney")), "Australia/Sydney"
    )
    fired = systemd_firings(values, 366)
    gap_day = datetime(2026, 10, 3, 16, 0, tzinfo=UTC)  # 03:00 AEDT on 2026-10-04
    assert gap_day in expected and gap_day not in fired
    assert [f for f in fired if f.month in (9, 10)] == [s for s in expected if s != gap_day]


_MINUTES = st.one_of(
    st.integers(0, 59).map(str),
    st.lists(st.integers(0, 59), min_size=2, max_size=3, unique=True).map(
        lambda v: ",".join(map(str, v))
    ),
)


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    pair = st.tuples(st.integers(low, high), st.integers(low, high)).filter(lambda p: p[0] < p[1])
    return st.one_of(
        st.just("*"),
        st.integers(low, high).map(str),
        st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True).map(
            lambda v: ",".join(map(str, v))
        ),
        pair.map(lambda p: f"{p[0]}-{p[1]}"),
        st.tuples(pair, st.integers(2, 5)).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"),
        st.integers(2, 5).map(lambda n: f"*/{n}"),
    )


_EXPRESSIONS = st.tuples(_MINUTES, _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 7)).map(
    " ".join
)


def _parsed(expression: str) -> Schedule | None:
    try:
        return Schedule.parse(expression)
    except ValueError:
        return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_EXPRESSIONS)
def test_every_translator_is_exact_or_refuses(expression: str) -> None:
    """Generated schedules over 60 days: each dialect fires exactly at the canonical slots,
    or refuses with a reason; none approximates silently."""
    schedule = _parsed(expression)
    if schedule is None:
        return
    span = timedelta(days=60)
    expected = slots(expression, span=span)
    fields = CronFields.of(schedule)
    for dialect in STANDARD:
        try:
            translated = dialect.translate(fields)
        except Unsupported as exc:
            assert fields.star_step_days and str(exc)
            continue
        assert cronsim_firings(translated, span) == expected, (dialect.platform, translated)
    try:
        assert aws_firings(aws_expressions(fields), span) == expected
    except Unsupported:
        assert fields.star_step_days


@pytest.mark.parametrize(
    ("expression", "frequency"),
    [
        ("*/10 * * * *", "Every 10 minutes"),
        ("20 * * * *", "Every hour at :20"),
        ("30 2 * * *", "Every day at 02:30 UTC"),
    ],
)
def test_heroku_offers_three_frequencies(expression: str, frequency: str) -> None:
    assert heroku_frequency(CronFields.of(Schedule.parse(expression))) == frequency


@pytest.mark.parametrize("expression", ["0 4 * * 0", "15 2 * * *", "5 * * * *", "*/5 * * * *"])
def test_heroku_refuses_everything_else(expression: str) -> None:
    with pytest.raises(Unsupported, match="Heroku Scheduler only runs"):
        heroku_frequency(CronFields.of(Schedule.parse(expression)))


def _windows_firings(expression: str, span: timedelta) -> list[datetime]:
    """Task Scheduler's documented trigger rules, applied to the triggers lethe writes."""
    found = []
    day = START
    while day < START + span:
        for trigger in windows_triggers(CronFields.of(Schedule.parse(expression))):
            months = trigger.months or tuple(range(1, 13))
            weekday = (day.weekday() + 1) % 7
            if trigger.weekdays:
                hit = weekday in trigger.weekdays and day.month in months
            elif trigger.days:
                hit = day.day in trigger.days and day.month in months
            else:
                hit = True
            if hit:
                times = [trigger.start]
                if trigger.interval and trigger.duration:
                    times = list(
                        range(trigger.start, trigger.start + trigger.duration, trigger.interval)
                    )
                found.extend(day + timedelta(minutes=t) for t in times)
        day += timedelta(days=1)
    return sorted(set(found))


@pytest.mark.parametrize("expression", SCHEDULES)
def test_windows_triggers_fire_at_the_canonical_slots(expression: str) -> None:
    assert _windows_firings(expression, timedelta(days=60)) == slots(
        expression, span=timedelta(days=60)
    )


@pytest.mark.parametrize("expression", ["0 0 */2 * MON", "0 0 1 * */2"])
def test_a_star_step_day_field_beside_a_restricted_one_is_refused_where_crons_disagree(
    expression: str,
) -> None:
    fields = CronFields.of(Schedule.parse(expression))
    with pytest.raises(Unsupported, match="write the days out"):
        CronDialect("Kubernetes").translate(fields)
    with pytest.raises(Unsupported):
        aws_expressions(fields)
    with pytest.raises(Unsupported):
        windows_triggers(fields)
    assert CronDialect("Debian cron", debian_days=True).translate(fields)
    # systemd ANDs a weekday with the date, as Debian cron does here: exact.
    values = on_calendar(fields, "UTC")
    expected = slots(expression)
    assert systemd_firings(values, len(expected))[: len(expected)] == expected
