"""Policy files for blob and Redis datasets, run records, dry-run default, health and links:
every mistake is refused at load time with one line naming the file and the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lethe import ConfigError, load
from lethe.model.conditions import Before, evaluate
from lethe.stores.listed import judge, to_instant

BLOBS = """
[stores.files]
url = "file://storage"
[stores.cache]
url = "redis://localhost:6379/0"
[datasets.blobs]
store = "files"
prefixes = "uploads/,results/"
retain = "24h"
[datasets.jobs]
store = "cache"
pattern = "job:*"
age_column = "createdAt"
retain = "24h"
[policies.blobs]
dataset = "blobs"
[[policies.blobs.actions]]
type = "purge"
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text, env={})
    return str(caught.value)


def test_blob_and_redis_datasets_load_with_their_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load(BLOBS, base_dir=tmp_path, env={})
    blobs = settings.config.datasets["blobs"]
    assert (blobs.kind, blobs.prefixes, blobs.age_field) == (
        "blob",
        ["uploads/", "results/"],
        "last_modified",
    )
    assert settings.config.datasets["jobs"].kind == "keys"
    assert settings.store_url("files") == f"file://{(tmp_path / 'storage').resolve()}"
    assert settings.config.run.dry_run is False


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('pattern = "job:*"', 'pattern = "job:*"\ntable = "jobs"'), "exactly one of table"),
        (('prefixes = "uploads/,results/"', 'prefixes = "uploads/,uploads/a/"'), "overlaps"),
        (('prefixes = "uploads/,results/"', 'prefixes = "uploads"'), "must end with /"),
        (
            ('prefixes = "uploads/,results/"', 'prefixes = "uploads/,../x/"'),
            "datasets.blobs: prefix '../x/' has the segment '..'",
        ),
        (('prefixes = "uploads/,results/"', 'prefixes = "a//"'), "has the segment ''"),
        (('prefixes = "uploads/,results/"', 'prefixes = "./"'), "has the segment '.'"),
        (('prefixes = "uploads/,results/"', 'prefixes = "a\\u0001/"'), "has the segment 'a\\x01'"),
        (('pattern = "job:*"', 'pattern = "job:*"\nkey = "id"'), "key: only for table datasets"),
        (('age_column = "createdAt"', 'age_column = "created at"'), "datasets.jobs.age_column"),
        (
            ('retain = "24h"\n[policies', 'retain = "24h"\n[run]\ndry_run = "maybe"\n[policies'),
            "run.dry_run",
        ),
        (
            ('type = "purge"', 'type = "soft_delete"'),
            "policies.blobs.actions[0]: soft_delete changes items in place",
        ),
        (
            ("[stores.files]", '[state]\nrecords = { store = "nope" }\n[stores.files]'),
            "state.records.store: unknown store 'nope'",
        ),
        (
            ('retain = "24h"\n[datasets.jobs]', 'retain = "30m"\n[datasets.jobs]'),
            "datasets.blobs.retain: retention 30m is below min_retain 1h",
        ),
    ],
)
def test_bad_store_datasets_fail_with_one_line(change: tuple[str, str], expected: str) -> None:
    assert expected in _error(BLOBS.replace(*change, 1))


def test_links_must_name_a_blob_or_redis_dataset() -> None:
    text = (
        BLOBS
        + """
[stores.app]
url = "sqlite:///app.db"
[datasets.rows]
store = "app"
table = "rows"
key = "id"
due_column = "due"
links = [{ dataset = "ghost", column = "path" }]
"""
    )
    assert "datasets.rows.links[0].dataset: unknown dataset 'ghost'" in _error(text)
    linked_to_table = text.replace('dataset = "ghost"', 'dataset = "rows"')
    assert "names a blob or Redis dataset" in _error(linked_to_table)
    on_blobs = BLOBS.replace(
        'retain = "24h"\n[datasets.jobs]', 'retain = "24h"\nlinks = []\n[datasets.jobs]'
    )
    assert "links: only for table datasets" in _error(on_blobs)


instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2400, 1, 1), timezones=st.just(UTC)
)


@given(instant=instants)
def test_timestamps_read_alike_as_iso_epoch_seconds_and_milliseconds(instant: datetime) -> None:
    whole = instant.replace(microsecond=0)
    assert to_instant(whole.isoformat()) == whole
    assert to_instant(str(int(whole.timestamp()))) == whole
    assert to_instant(str(int(whole.timestamp() * 1000))) == whole
    assert to_instant(whole.replace(tzinfo=None).isoformat().encode()) == whole


@given(stored=instants, cutoff=instants, garbage=st.text(max_size=8))
def test_judging_agrees_with_the_reference_evaluator_and_never_selects_garbage(
    stored: datetime, cutoff: datetime, garbage: str
) -> None:
    condition = Before("createdAt", cutoff)
    assert judge(condition, {"createdAt": stored.isoformat()}) is evaluate(
        condition, {"createdAt": stored}
    )
    assert judge(condition, {}) is None
    try:
        to_instant(garbage)
    except (ValueError, OverflowError, OSError):
        assert judge(condition, {"createdAt": garbage}) is None
    else:
        assert judge(condition, {"createdAt": garbage}) is not None


def test_epoch_values_a_day_apart_compare_as_instants() -> None:
    day = datetime(2025, 6, 1, tzinfo=UTC)
    condition = Before("t", day)
    assert judge(condition, {"t": str(int((day - timedelta(days=1)).timestamp()))}) is True
    assert judge(condition, {"t": str(int((day + timedelta(days=1)).timestamp() * 1000))}) is False
