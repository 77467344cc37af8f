"""The Redis page script judges keys on the server exactly as Python's reference judge does.

The oracle is the Python path lethe used before the script judged (and still uses for what the
script cannot translate): every key's fields read back, then :class:`lethe.stores.listed.Judge`.
Data is generated to break the script's timestamp reader: ISO 8601 in every spelling Python
writes, epoch seconds and milliseconds with fractions at the microsecond rounding boundary,
padded, malformed, non-ASCII digits and undecodable bytes, compared with instants a microsecond
either side; conditions are random trees of every condition kind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from redis import Redis

from lethe.config.datasets import DatasetConfig
from lethe.model.conditions import (
    After,
    All,
    Any_,
    Before,
    Condition,
    DistinctFrom,
    Equals,
    In,
    IsNull,
    Not,
    NotNull,
)
from lethe.stores.listed import ListedDataset, to_instant
from lethe.stores.redis.dataset import RedisDataset
from lethe.stores.redis.program import compile_program
from lethe.stores.redis.script import AGE_PAGE, JUDGE_PAGE
from lethe.stores.redis.store import RedisStore

AGES = ("createdAt", "updatedAt")
KEYS = [f"job:{n}" for n in range(8)]

base = st.datetimes(
    min_value=datetime(2, 3, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
near = st.sampled_from(
    [
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(microseconds=-1),
        timedelta(seconds=1),
        timedelta(milliseconds=-1),
        timedelta(hours=5),
        timedelta(days=-400),
    ]
)
offsets = st.sampled_from([0, 1, -1, 330, -480, 23 * 60 + 59, -(23 * 60 + 59)]).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _iso(moment: datetime, zone: timezone, sep: str, spec: str, naive: bool, zulu: bool) -> str:
    local = moment.astimezone(zone)
    if naive:
        local = moment.replace(tzinfo=None)
    text = local.isoformat(sep=sep, timespec=spec)
    return text.replace("+00:00", "Z") if zulu else text


def _epoch(moment: datetime, how: str) -> str:
    seconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(seconds=1)
    if how == "int":
        return str(int(seconds))
    if how == "ms":
        return str(int(seconds * 1000))
    if how == "repr":
        return repr(seconds)
    return f"{seconds:.{how}f}"


def stamps(moment: datetime) -> st.SearchStrategy[str]:
    """The ways an application writes ``moment``."""
    iso = st.builds(
        _iso,
        st.just(moment),
        offsets,
        st.sampled_from(["T", " "]),
        st.sampled_from(["auto", "minutes", "seconds", "milliseconds", "microseconds"]),
        st.booleans(),
        st.booleans(),
    )
    after_epoch = moment >= datetime(1970, 1, 1, tzinfo=UTC)
    epoch = (
        st.sampled_from(["int", "ms", "repr", "1", "3", "6", "7", "9", "12"]).map(
            lambda how: _epoch(moment, how)
        )
        if after_epoch
        else st.nothing()
    )
    day = st.just(moment.date().isoformat())
    padded = st.one_of(iso, epoch).map(lambda text: f" \t{text}\n")
    digits = f"{moment.microsecond:06d}123"
    fraction = st.builds(
        lambda n, zone: f"{moment:%Y-%m-%dT%H:%M:%S}.{digits[:n]}{zone}",
        st.integers(1, 9),
        st.sampled_from(["", "Z", "+00:00", "-05:00"]),
    )
    return st.one_of(iso, epoch, day, padded, fraction)


#: Values a reader gets wrong at the edges: every one of them is judged in every example of the
#: reader test. Ties at half a microsecond (Python rounds them to even), the milliseconds
#: threshold, invalid fields, forms Python does not read.
ODD = [
    "1700000000.0078125",
    "1700000000.0234375",
    "0.0000025",
    "0.0000015",
    "86400.0390625",
    "100000000000",
    "99999999999.9999999",
    "1700000000.9999996",
    "1700000000.9999999",
    "1700000000.0000004",
    "1700000000123",
    "",
    "soon",
    "2024-02-30",
    "2023-02-29T00:00",
    "2024-13-01",
    "2024-01-01T24:00",
    "2024-01-01T10:60",
    "2024-01-01T10:00:60",
    "2024-01-01T10:00:00.1234",
    "2024-01-01T10:00+24:00",
    "2024-01-01Z",
    "2024-01-01T10",
    "20240101",
    "0000-01-01",
    "1e9",
    "-5",
    "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: Python reads them
    "\u00a01700000000",
    "9" * 400,
    "253402300799.9999999",
    "253402300800",
    " " * 70 + "1700000000",
    "2024-01-01T10:00:00.1",
    "2024-01-01T10:00:00.12345",
    "2024-01-01T10:00:00.1234567",
    "2024-01-01T10:00:00+05:30:15",
    "2024-01-01T10:00:00+0530",
    "2024-01-01t10:00:00",
    "2024-01-01T10:00:00z",
    "20240101T100000",
    "2024-W01-1",
    "2024-001",
    "1970-01-01T00:00:00-00:01",
    "9999-12-31T23:59:59.999999-01:00",
    "0001-01-01T00:00:00+01:00",
    # the 32-byte form isoformat() writes, which the script reads byte by byte
    "2024-13-01T10:00:00.123456+00:00",
    "2023-02-29T10:00:00.123456+00:00",
    "2024-02-29T23:59:59.999999-23:59",
    "2024-01-01T10:00:00.123456+24:00",
    "2024-01-01T10:00:00.123456+00:60",
    "2024-01-01X10:00:00.123456+00:00",
    "2024-01-01T10:00:00.12345a+00:00",
    "2024-01-01T10:00:00,123456+00:00",
    "2024-01-01T10:00:00.123456 00:00",
    "0000-01-01T10:00:00.000000+00:00",
    "2024-00-10T10:00:00.000000+00:00",
    "2024-01-00T10:00:00.000000+00:00",
    "2024-01-01T10:00:00.123456+00:00 ",
    "\u0662024-01-01T10:00:00.12345+00:00",
]
garbage = st.one_of(st.sampled_from(ODD), st.text(max_size=30))
undecodable = st.sampled_from([b"\xff\xfe", b"2024-01-01\xff", b"17000\xc300000"])
texts = st.sampled_from(["done", "x", "", "é", "a\x00b", "DONE"])


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any] | str], Condition]:
    """Keys with random fields, and a random condition over them."""
    moment = draw(base)
    # Mostly timestamps the script reads itself, so that its own logic is what is judged.
    values = st.one_of(
        stamps(moment), stamps(moment + draw(near)), stamps(moment + draw(near)), garbage
    )
    fields = st.fixed_dictionaries(
        {}, optional={"createdAt": values, "updatedAt": values, "status": texts | garbage}
    )
    data: dict[str, dict[str, Any] | str] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=6)):
        data[key] = draw(st.one_of(fields, st.just("a plain string")))
    instant = st.builds(lambda d: moment + d, near)
    compared = st.sampled_from([*AGES, "@key"]) if draw(st.booleans()) else st.sampled_from(AGES)
    scalar = st.one_of(texts, st.sampled_from([None, 5, True, 1.5, "job:1", "\ufffd"]))
    leaf = st.one_of(
        st.builds(Before, compared, instant, st.booleans()),
        st.builds(After, compared, instant, st.booleans()),
        st.builds(Equals, st.sampled_from(["status", "@key"]), scalar),
        st.builds(DistinctFrom, st.just("status"), scalar),
        st.builds(In, st.just("status"), st.lists(scalar, max_size=3).map(tuple)),
        st.builds(IsNull, st.sampled_from(["status", "other"])),
        st.builds(NotNull, st.just("status")),
    )
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda p: All(tuple(p))),
            st.lists(inner, max_size=3).map(lambda p: Any_(tuple(p))),
            inner.map(Not),
        ),
        max_leaves=6,
    )
    return data, draw(tree)


def _parsed(value: str | bytes) -> datetime | None:
    try:
        return to_instant(value.decode() if isinstance(value, bytes) else value)
    except (ValueError, OverflowError, OSError):
        return None


@st.composite
def readings(draw: st.DrawFn) -> tuple[list[str | bytes], list[Condition]]:
    """Many timestamps (the odd ones always among them), and every comparison with instants on
    or a microsecond beside some of them."""
    moment = draw(base)
    value = st.one_of(stamps(moment), stamps(moment + draw(near)), garbage, undecodable)
    values: list[str | bytes] = [*draw(st.lists(value, max_size=12)), *ODD]
    boundaries = [p for p in map(_parsed, values) if p is not None]
    conditions: list[Condition] = []
    for instant in draw(st.lists(st.sampled_from([moment, *boundaries]), min_size=1, max_size=3)):
        shift = draw(st.sampled_from([timedelta(0), _US, -_US]))
        with contextlib.suppress(OverflowError):
            instant += shift
        conditions += [
            kind("createdAt", instant, b) for kind in (Before, After) for b in (True, False)
        ]
    return values, conditions


_US = timedelta(microseconds=1)
_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(redis_session_url: str) -> Iterator[RedisDataset]:
    store = RedisStore("r", redis_session_url)
    yield store.bind("items", DatasetConfig(pattern="job:*", age_column="createdAt", retain="24h"))
    store.close()


def _seed(client: Redis, data: dict[str, dict[str, Any] | str]) -> None:
    client.flushdb()
    for key, fields in data.items():
        if isinstance(fields, str):
            client.set(key, fields)
        else:
            client.hset(key, mapping={"kind": "job", **fields})
    client.set(b"job:\xff", "a key that is not UTF-8")


def _python(dataset: RedisDataset, condition: Condition) -> set[tuple[str, bool]]:
    return {(str(i.key), i.unreadable) for i in ListedDataset.judged(dataset, condition, None)}


def _script(dataset: RedisDataset, condition: Condition) -> set[tuple[str, bool]]:
    return {(str(i.key), i.unreadable) for i in dataset.judged(condition, None)}


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
@example(
    case=(
        {"job:1": {"createdAt": "1700000000.0000004"}, "job:2": {"createdAt": "1700000000123"}},
        Before("createdAt", datetime.fromtimestamp(1700000000, UTC)),
    )
)
@example(  # an unknown part before a false one: the conjunction is false, not unknown
    case=(
        {"job:1": {"updatedAt": "2020-01-01T00:00:00"}},
        All((Before("createdAt", _AT), Before("updatedAt", datetime(2019, 1, 1, tzinfo=UTC)))),
    )
)
def test_the_script_judges_every_key_as_python_does(
    dataset: RedisDataset, case: tuple[dict[str, dict[str, Any] | str], Condition]
) -> None:
    data, condition = case
    _seed(dataset.client, data)
    assert _script(dataset, condition) == _python(dataset, condition)
    keys = [*KEYS, "job:missing"]
    assert dataset.verdicts_for(condition, keys) == ListedDataset.verdicts_for(
        dataset, condition, keys
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reading=readings())
def test_the_script_reads_timestamps_as_python_does(
    dataset: RedisDataset, reading: tuple[list[str | bytes], list[Condition]]
) -> None:
    values, conditions = reading
    dataset.client.flushdb()
    for n, value in enumerate(values):
        dataset.client.hset(f"job:r{n}", "createdAt", value)
    for condition in conditions:
        program = compile_program(condition)
        assert program is not None and program.script == AGE_PAGE  # a single comparison
        assert _script(dataset, condition) == _python(dataset, condition), condition


@st.composite
def age_cases(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any] | str], Condition]:
    """The keys of :func:`cases` (hashes with and without the field, odd values, plain
    strings) under a condition that comes down to one comparison of one field: the program
    AGE_PAGE runs, however the comparison is wrapped in neutral parts."""
    data, _ = draw(cases())
    # compared with an instant on or a microsecond beside a stored one, where op matters
    stored = [
        p
        for fields in data.values()
        if isinstance(fields, dict)
        for name in AGES
        if name in fields and (p := _parsed(fields[name])) is not None
    ]
    instant = draw(st.sampled_from(stored) if stored else base)
    with contextlib.suppress(OverflowError):
        instant += draw(st.sampled_from([timedelta(0), timedelta(0), _US, -_US]))
    kind = draw(st.sampled_from([Before, After]))
    comparison = kind(draw(st.sampled_from(AGES)), instant, draw(st.booleans()))
    wrap = draw(
        st.sampled_from(
            [
                lambda c: c,
                lambda c: All((c,)),
                lambda c: All((All(()), c)),
                lambda c: Any_((Any_(()), All((c,)))),
                lambda c: All((Any_((c, Any_(()))), All(()))),
            ]
        )
    )
    return data, wrap(comparison)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=age_cases())
def test_the_single_age_script_judges_every_key_as_python_does(
    dataset: RedisDataset, case: tuple[dict[str, dict[str, Any] | str], Condition]
) -> None:
    data, condition = case
    program = compile_program(condition)
    assert program is not None and program.script == AGE_PAGE
    _seed(dataset.client, data)
    assert _script(dataset, condition) == _python(dataset, condition)
    keys = [*KEYS, "job:missing"]
    assert dataset.verdicts_for(condition, keys) == ListedDataset.verdicts_for(
        dataset, condition, keys
    )


def test_a_condition_with_more_than_one_comparison_keeps_the_tree() -> None:
    """Neutral parts are dropped; a part that can decide keeps the general script."""
    cutoff = datetime(2026, 1, 1, tzinfo=UTC)
    age = Before("createdAt", cutoff)
    for condition in (
        All((age, Before("updatedAt", cutoff))),
        All((age, Equals("status", "done"))),
        Any_((age, All(()))),  # always true
        Not(age),
        Before("@key", cutoff),
        Before("@idle_since", cutoff),
        All((age, DistinctFrom("status", 5))),  # true, but it names a second field
    ):
        program = compile_program(condition)
        assert program is not None and program.script == JUDGE_PAGE, condition


def test_timestamps_in_the_usual_forms_are_judged_on_the_server(dataset: RedisDataset) -> None:
    """Nothing but the odd value goes back to Python: ISO 8601 as applications write it and
    epoch seconds or milliseconds are all read by the script itself."""
    cutoff = datetime(2026, 1, 1, tzinfo=UTC)
    usual = [
        "2025-06-01T10:00:00+00:00",
        "2025-06-01T10:00:00.123456Z",
        "2025-06-01 10:00:00.123",
        "2025-06-01T10:00",
        "2025-06-01",
        "2027-06-01T10:00:00-08:00",
        "1750000000",
        "1750000000.25",
        "1750000000123",
    ]
    dataset.client.flushdb()
    for n, value in enumerate(usual):
        dataset.client.hset(f"job:{n}", "createdAt", value)
    dataset.client.hset("job:bad", "createdAt", "soon")
    keys = [*(f"job:{n}" for n in range(len(usual))), "job:bad"]
    # the single comparison (AGE_PAGE), and the same in a tree (JUDGE_PAGE)
    for condition, script in (
        (Before("createdAt", cutoff), AGE_PAGE),
        (
            All((Before("createdAt", cutoff), After("createdAt", _AT.replace(year=1900)))),
            JUDGE_PAGE,
        ),
    ):
        program = compile_program(condition)
        assert program is not None and program.script == script
        existing, verdicts, deferred = dataset.client.eval_ro(
            program.script, len(keys), *keys, *program.arguments(cutoff)
        )
        assert existing == len(keys)
        assert [row[0] for row in deferred] == [len(keys)]  # only "soon"
        selected = {keys[verdicts[n] - 1] for n in range(0, len(verdicts), 2)}
        assert selected == {f"job:{n}" for n in range(len(usual))} - {"job:5"}


def test_idle_time_is_judged_on_the_server_as_python_does(dataset: RedisDataset) -> None:
    """``@idle_since`` comes from ``OBJECT IDLETIME``; RESTORE … IDLETIME ages a key exactly
    (again before each judge: reading a hash field counts as an access)."""
    client = dataset.client
    client.flushdb()
    client.hset("job:template", "status", "done")
    dump = client.dump("job:template")
    client.delete("job:template")

    def aged() -> None:
        for n, idle in enumerate([0, 3 * 3600, 48 * 3600]):
            client.restore(f"job:{n}", 0, dump, replace=True, idletime=idle)

    now = datetime.now(UTC)
    for condition, due in (
        (Before("@idle_since", now - timedelta(hours=1)), {"job:1", "job:2"}),
        (
            All((After("@idle_since", now - timedelta(days=1)), Equals("status", "done"))),
            {"job:0", "job:1"},
        ),
    ):
        assert compile_program(condition) is not None
        aged()
        script = _script(dataset, condition)
        aged()
        assert script == _python(dataset, condition) == {(key, False) for key in due}
