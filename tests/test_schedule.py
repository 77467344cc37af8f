"""Cron schedules: Debian cron's DST rules in three zones, validation, and a hypothesis check that
the next-slot iteration is strictly increasing and equals a brute-force minute scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lethe.schedule.cron import Schedule

SYDNEY, NEW_YORK, BERLIN = "Australia/Sydney", "America/New_York", "Europe/Berlin"


def _local(schedule: Schedule, start: datetime, count: int) -> list[str]:
    zone = ZoneInfo(schedule.zone)
    return [f"{s.astimezone(zone):%Y-%m-%d %H:%M%z}" for s in islice(schedule.after(start), count)]


# -- DST: spring forward (the gap) ---------------------------------------------------------------

SPRING = [  # zone, a day before the change (UTC), the day of the change (local)
    (SYDNEY, datetime(2024, 10, 4, tzinfo=UTC), "2024-10-06"),
    (NEW_YORK, datetime(2024, 3, 8, 12, tzinfo=UTC), "2024-03-10"),
    (BERLIN, datetime(2024, 3, 29, 12, tzinfo=UTC), "2024-03-31"),
]
FALL = [
    (SYDNEY, datetime(2024, 4, 5, tzinfo=UTC), "2024-04-07"),
    (NEW_YORK, datetime(2024, 11, 1, 12, tzinfo=UTC), "2024-11-03"),
    (BERLIN, datetime(2024, 10, 25, 12, tzinfo=UTC), "2024-10-27"),
]
GAP_TIME = {SYDNEY: "02:30", NEW_YORK: "02:30", BERLIN: "02:30"}


@pytest.mark.parametrize(("zone", "start", "day"), SPRING)
def test_a_daily_job_in_the_spring_forward_gap_runs_once_at_the_first_valid_instant(
    zone: str, start: datetime, day: str
) -> None:
    slots = _local(Schedule.parse("30 2 * * *", zone), start, 3)
    on_the_day = [s for s in slots if s.startswith(day)]
    assert len(on_the_day) == 1
    assert on_the_day[0][11:16] == "03:00"  # 02:30 does not exist: the first instant after it


@pytest.mark.parametrize(("zone", "start", "day"), FALL)
def test_a_daily_job_in_the_repeated_hour_runs_once_at_its_first_occurrence(
    zone: str, start: datetime, day: str
) -> None:
    schedule = Schedule.parse("30 1 * * *" if zone != SYDNEY else "30 2 * * *", zone)
    slots = list(islice(schedule.after(start), 3))
    on_the_day = [s for s in slots if f"{s.astimezone(ZoneInfo(zone)):%Y-%m-%d}" == day]
    assert len(on_the_day) == 1
    local = on_the_day[0].astimezone(ZoneInfo(zone))
    assert local.fold == 0 and local.dst()  # the first pass, still on summer time


@pytest.mark.parametrize(("zone", "start", "day"), SPRING)
def test_a_sub_hourly_job_skips_the_hour_that_does_not_exist(
    zone: str, start: datetime, day: str
) -> None:
    schedule = Schedule.parse("*/15 * * * *", zone)
    slots = list(takewhile(lambda s: s < start + timedelta(days=3), schedule.after(start)))
    local = [
        s.astimezone(ZoneInfo(zone))
        for s in slots
        if f"{s.astimezone(ZoneInfo(zone)):%Y-%m-%d}" == day
    ]
    assert len(local) == 23 * 4  # a 23-hour day
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(slots))


@pytest.mark.parametrize(("zone", "start", "day"), FALL)
def test_a_sub_hourly_job_runs_in_both_passes_of_the_repeated_hour(
    zone: str, start: datetime, day: str
) -> None:
    schedule = Schedule.parse("*/10 * * * *", zone)
    slots = list(takewhile(lambda s: s < start + timedelta(days=3), schedule.after(start)))
    on_the_day = [s for s in slots if f"{s.astimezone(ZoneInfo(zone)):%Y-%m-%d}" == day]
    assert len(on_the_day) == 25 * 6  # a 25-hour day, every real 10 minutes
    assert all(b - a == timedelta(minutes=10) for a, b in pairwise(slots))


def test_iterating_from_inside_the_second_pass_never_goes_back() -> None:
    # Sydney 2024-04-07: 02:00-03:00 happens twice; 02:45 of the second pass is 16:45 UTC.
    second_pass = datetime(2024, 4, 6, 16, 45, tzinfo=UTC)
    schedule = Schedule.parse("30 2 * * *", SYDNEY)
    first = schedule.next_after(second_pass)
    assert first is not None and first > second_pass
    assert f"{first.astimezone(ZoneInfo(SYDNEY)):%Y-%m-%d %H:%M}" == "2024-04-08 02:30"


def test_day_of_month_and_day_of_week_are_ored_when_both_are_restricted() -> None:
    schedule = Schedule.parse("0 0 13 * FRI")  # the 13th, and every Friday
    days = [f"{s:%d %a}" for s in islice(schedule.after(datetime(2024, 9, 1, tzinfo=UTC)), 4)]
    assert days == ["06 Fri", "13 Fri", "20 Fri", "27 Fri"]
    schedule = Schedule.parse("0 0 * * FRI")  # AND when either is *
    assert all(
        s.weekday() == 4 for s in islice(schedule.after(datetime(2024, 9, 1, tzinfo=UTC)), 5)
    )


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 0 31 2 *", "never runs"),
        ("0 0 30 2 *", "never runs"),
        ("61 * * * *", r"minute field '61': 61 is out of range \(0-59\)"),
        ("* * 0 * *", r"day-of-month field '0': 0 is out of range \(1-31\)"),
        ("* * 32 * *", r"32 is out of range \(1-31\)"),
        ("* 24 * * *", r"hour field '24': 24 is out of range \(0-23\)"),
        ("0 0 1 0 *", r"month field '0': 0 is out of range \(1-12\)"),
        ("0 0 * * 8", r"day-of-week field '8': 8 is out of range \(0-7\)"),
        ("* * * *", "has 4 fields"),
        ("0 0 * * * *", "has 6 fields"),
        ("0 0 L * *", "not cron syntax"),
        ("0 2 * * MON#2", "not cron syntax"),
        ("0 2 * * FOO", "not cron syntax"),
        ("*/0 * * * *", "bad minute"),
        ("@often", "unknown schedule"),
        ("5/15 * * * *", "a step needs"),
    ],
)
def test_malformed_and_impossible_schedules_are_refused(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Schedule.parse(expression)


def test_a_one_value_range_with_a_step_is_that_value_as_in_debian_cron() -> None:
    schedule = Schedule.parse("5-5/2 * * * *")
    assert [s.minute for s in islice(schedule.after(datetime(2024, 1, 1, tzinfo=UTC)), 2)] == [5, 5]


def test_surprising_schedules_load_with_a_warning() -> None:
    assert "does not divide 60" in Schedule.parse("*/40 * * * *").warnings()[0]
    assert "restarts every month" in Schedule.parse("0 0 */7 * *").warnings()[0]
    assert "EITHER" in Schedule.parse("0 0 13 * FRI").warnings()[0]
    assert Schedule.parse("*/10 * * * *").warnings() == []
    assert "does not divide 12" in Schedule.parse("0 0 1 */5 *").warnings()[0]
    assert "does not divide 7" in Schedule.parse("0 0 * * */2").warnings()[0]
    assert "(the cycle restarts at 1)" in Schedule.parse("0 0 1 */5 *").warnings()[0]
    assert Schedule.parse("0 0 * * */5").warnings() == [
        "'*/5' in the day-of-week field does not divide 7: the gaps are uneven "
        "(the cycle restarts at 0)"
    ]
    assert Schedule.parse("0 0 1 */3 *").warnings() == []  # quarterly: 12 divides evenly
    assert Schedule.parse("0 0 * * 7").next_after(datetime(2024, 9, 2, tzinfo=UTC)) == datetime(
        2024, 9, 8, tzinfo=UTC
    )  # 7 is Sunday
    assert Schedule.parse("@weekly").cron == "0 0 * * 0"


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Schedule.parse("0 2 * * *", "Mars/Olympus_Mons")


# -- the property: strictly increasing, and equal to a brute-force minute scan -------------------

ZONES = [SYDNEY, NEW_YORK, BERLIN, "UTC", "Australia/Lord_Howe"]  # Lord Howe shifts by 30 min
TRANSITIONS = [s for _, s, _ in SPRING + FALL] + [datetime(2024, 6, 1, tzinfo=UTC)]
_RANGES = [(0, 59), (0, 23), (1, 28), (1, 12), (0, 6)]


@st.composite
def fields(draw: st.DrawFn, index: int) -> str:
    low, high = _RANGES[index]
    kind = draw(st.sampled_from(["*", "step", "value", "range", "list", "range-step"]))
    a = draw(st.integers(low, high))
    b = draw(st.integers(a, high))
    step = draw(st.integers(1, max(2, (high - low) // 2)))
    return {
        "*": "*",
        "step": f"*/{step}",
        "value": str(a),
        "range": f"{a}-{b}",
        "list": f"{a},{b}",
        "range-step": f"{a}-{b}/{step}",
    }[kind]


def _matches(field: str, value: int, index: int) -> bool:
    low, high = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)][index]
    for term in field.split(","):
        base, _, step = term.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(x) for x in base.split("-"))
        else:
            first = int(base)
            last = high if step else first
        values = set(range(first, last + 1, int(step) if step else 1))
        if index == 4 and 7 in values:
            values.add(0)
        if value in values:
            return True
    return False


def _wall_matches(parts: list[str], wall: datetime) -> bool:
    minute, hour, dom, month, dow = parts
    dom_ok = _matches(dom, wall.day, 2)
    dow_ok = _matches(dow, (wall.weekday() + 1) % 7, 4)
    day = (dom_ok and dow_ok) if dom.startswith("*") or dow.startswith("*") else (dom_ok or dow_ok)
    return (
        day
        and _matches(minute, wall.minute, 0)
        and _matches(hour, wall.hour, 1)
        and _matches(month, wall.month, 3)
    )


def _brute_force(parts: list[str], zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in (start, end], minute by minute, from the rules in the module docstring."""
    tz = ZoneInfo(zone)
    found: set[datetime] = set()
    if parts[0].startswith("*") or parts[1].startswith("*"):  # every real matching instant
        moment = start.replace(second=0, microsecond=0)
        while moment <= end:
            if _wall_matches(parts, moment.astimezone(tz)):
                found.add(moment)
            moment += timedelta(minutes=1)
    else:  # fixed wall-clock times: gap → the first valid instant after, repeat → the first
        wall = (
            (start - timedelta(days=1)).astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
        )
        last_wall = (end + timedelta(days=1)).astimezone(tz).replace(tzinfo=None)
        while wall <= last_wall:
            if _wall_matches(parts, wall):
                real = wall
                while (
                    real.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
                    != real
                ):
                    real += timedelta(minutes=1)  # inside the gap
                found.add(real.replace(tzinfo=tz, fold=0).astimezone(UTC))
            wall += timedelta(minutes=1)
    return sorted(s for s in found if start < s <= end)


@settings(max_examples=80, deadline=None)
@given(
    minute=fields(0),
    hour=fields(1),
    dom=fields(2),
    month=fields(3),
    dow=fields(4),
    zone=st.sampled_from(ZONES),
    base=st.sampled_from(TRANSITIONS),
    offset=st.integers(-36 * 60, 36 * 60),
)
def test_next_slots_are_strictly_increasing_and_equal_a_minute_scan(
    minute: str, hour: str, dom: str, month: str, dow: str, zone: str, base: datetime, offset: int
) -> None:
    parts = [minute, hour, dom, "*" if month != "*" and dom != "*" else month, dow]
    start = base + timedelta(minutes=offset, seconds=17)
    end = start + timedelta(days=2)
    schedule = Schedule.parse(" ".join(parts), zone)
    produced = list(takewhile(lambda s: s <= end, schedule.after(start)))
    assert all(a < b for a, b in zip([start, *produced], produced, strict=False))
    assert produced == _brute_force(parts, zone, start, end)
