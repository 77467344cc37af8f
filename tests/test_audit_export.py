"""``lethe audit events``: every filter against a real run's ledger (state on SQLite and on
PostgreSQL), each format parsed back, bad filters refused with one line and exit 2, and the
property that a filtered export is the full export filtered by an oracle."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lethe import Lethe
from lethe.evidence.export import FIELDS, SCHEMA_VERSION, EventFilter, parse_filter, records
from tests.support.apps import NOW, example_lethe, example_policy, run_at, seeded
from tests.support.cli import census, run_cli

__all__ = ["census"]  # the fixture, imported for its use below


def _policy(state_url: str) -> str:
    return example_policy("census") + f'\n[state]\nurl = "{state_url}"\n'


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ran(tmp_path: Path, state_url: str) -> Iterator[Lethe]:
    """The Census example after three runs a day apart and a hold placed and released."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    with example_lethe("census", url, tmp_path, _policy(state_url)) as lethe:
        run_at(lethe, NOW)
        hold = lethe.holds.add("surveys", "1", "litigation", "dpo")
        run_at(lethe, NOW + timedelta(days=40))
        lethe.holds.release(hold.id, "dpo")
        run_at(lethe, NOW + timedelta(days=400))
        yield lethe


def _all(lethe: Lethe) -> list[dict[str, Any]]:
    return list(records(lethe.runtime.ledger, EventFilter()))


def _pick(lethe: Lethe, **filters: Any) -> list[dict[str, Any]]:
    where = parse_filter(lethe.runtime.ledger, lethe.settings.config.datasets, **filters)
    return list(records(lethe.runtime.ledger, where))


def _oracle(full: list[dict[str, Any]], **f: Any) -> list[dict[str, Any]]:
    since = None if f.get("since") is None else f["since"]
    until = None if f.get("until") is None else f["until"]
    out = [
        r
        for r in full
        if (f.get("dataset") is None or r["dataset"] == f["dataset"])
        and (f.get("item_key") is None or r["item_key"] == f["item_key"])
        and (f.get("run_id") is None or r["run_id"] == f["run_id"])
        and (not f.get("kinds") or r["event"] in f["kinds"])
        and (since is None or r["ts"] >= since)
        and (until is None or r["ts"] < until)
    ]
    return out if f.get("limit") is None else out[: f["limit"]]


def test_each_filter_selects_what_it_names(ran: Lethe) -> None:
    full = _all(ran)
    assert [r["seq"] for r in full] == list(range(1, len(full) + 1))
    assert {r["schema_version"] for r in full} == {SCHEMA_VERSION}
    assert all(tuple(r) == FIELDS for r in full)
    kinds = {r["event"] for r in full}
    assert {"soft_deleted", "hard_deleted", "hold_placed", "hold_released", "run_finished"} <= kinds
    runs = [r["run_id"] for r in full if r["event"] == "run_finished"]
    assert len(runs) == 3

    surveys = _pick(ran, dataset="surveys")
    assert surveys and {r["dataset"] for r in surveys} == {"surveys"}
    assert len(surveys) == sum(r["dataset"] == "surveys" for r in full)

    one = _pick(ran, dataset="surveys", item_key="1")
    assert [r["event"] for r in one][:2] == ["soft_deleted", "hold_placed"]
    assert "hold_released" in [r["event"] for r in one]

    second = _pick(ran, run_id=runs[1])
    assert second and {r["run_id"] for r in second} == {runs[1]}
    assert second[-1]["event"] == "run_finished"

    holds = _pick(ran, run_id="-")
    assert [r["event"] for r in holds] == ["hold_placed", "hold_released"]

    deleted = _pick(ran, kinds=["hard_deleted", "run_finished"])
    assert {r["event"] for r in deleted} == {"hard_deleted", "run_finished"}
    assert all(r["details"]["action"] == "purge" for r in deleted if r["event"] == "hard_deleted")

    later = NOW + timedelta(days=40)
    window = _pick(ran, since=later.isoformat(), until=(later + timedelta(days=1)).isoformat())
    assert window == [
        r for r in full if later.isoformat() <= r["ts"] < (NOW + timedelta(days=41)).isoformat()
    ]
    assert window and runs[0] not in {r["run_id"] for r in window}
    # Without an offset a time is UTC; a date alone is its midnight.
    assert _pick(ran, since=later.strftime("%Y-%m-%d")) == _pick(
        ran, since=later.isoformat()[:10] + "T00:00:00Z"
    )

    assert _pick(ran, limit=3) == full[:3]
    assert (
        _pick(ran, dataset="surveys", kinds=["hard_deleted"], limit=1)
        == [r for r in full if r["dataset"] == "surveys" and r["event"] == "hard_deleted"][:1]
    )


def test_formats_parse_back_to_the_records(
    ran: Lethe,
    tmp_path: Path,
    state_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = _all(ran)
    (tmp_path / "lethe.toml").write_text(_policy(state_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("COLUMNS", "200")

    code, out, err = run_cli(capsys, "audit", "events", "--format", "jsonl")
    assert (code, err) == (0, "")
    assert [json.loads(line) for line in out.splitlines()] == full

    code, out, err = run_cli(capsys, "audit", "events", "-f", "csv", "--dataset", "surveys")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == FIELDS
    wanted = [r for r in full if r["dataset"] == "surveys"]
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in wanted]
    assert [json.loads(r["details"]) for r in rows] == [r["details"] for r in wanted]
    assert [r["batch_id"] or None for r in rows] == [r["batch_id"] for r in wanted]

    code, out, err = run_cli(capsys, "audit", "events", "--action", "hold_placed")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2 and "hold_placed" in lines[1] and '"by":"dpo"' in lines[1]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--dataset", "nope"], "--dataset 'nope'"),
        (["--since", "yesterday"], "--since 'yesterday'"),
        (["--until", "2024-13-01"], "--until '2024-13-01'"),
        (["--since", "2025-01-02", "--until", "2025-01-01"], "is after --until"),
        (["--event", "deleted"], "--event 'deleted'"),
        (["--format", "xml"], "--format 'xml'"),
    ],
)
def test_a_bad_filter_is_one_line_and_exit_2(
    census: Any, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run_cli(capsys, "audit", "events", *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and says in err
    assert "Traceback" not in err


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_filtered_export_is_the_full_export_filtered(ran: Lethe, data: st.DataObject) -> None:
    full = _all(ran)
    stamps = sorted({r["ts"] for r in full})
    maybe = lambda values: st.none() | st.sampled_from(sorted(values))  # noqa: E731
    filters: dict[str, Any] = {
        "dataset": data.draw(maybe({r["dataset"] for r in full if r["dataset"]})),
        "item_key": data.draw(maybe({r["item_key"] for r in full if r["item_key"]})),
        "run_id": data.draw(maybe({r["run_id"] for r in full})),
        "kinds": data.draw(
            st.lists(st.sampled_from(sorted({r["event"] for r in full})), max_size=3)
        ),
        "limit": data.draw(st.none() | st.integers(0, len(full) + 1)),
    }
    since, until = data.draw(maybe(stamps)), data.draw(maybe(stamps))
    if since is not None and until is not None and since > until:
        since, until = until, since
    filters["since"], filters["until"] = since, until
    assert _pick(ran, **filters) == _oracle(full, **filters)
