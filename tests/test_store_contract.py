"""One contract, every store: SQLite rows, local files, S3 objects (moto) and Redis keys.

The engine has no special case for any store, so the same policy must behave the same on
each: exactly the due items go, dry runs and plans list exactly them, caps stop a run and the
next one continues, holds (exact and prefix) win, and a batch left by an exception changes
nothing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lethe import Lethe
from lethe.model.conditions import All
from tests.support.backends import Backend

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=48)
YOUNG = NOW - timedelta(hours=1)
DUE = [1, 2, 3, 4, 5]
KEPT = [6, 7, 8]


def _seeded(backend: Backend) -> tuple[set[str], set[str]]:
    due = {backend.key(n) for n in DUE}
    kept = {backend.key(n) for n in KEPT}
    backend.seed({**dict.fromkeys(sorted(due), OLD), **dict.fromkeys(sorted(kept), YOUNG)})
    return due, kept


def _lethe(backend: Backend, tmp_path: Path, extra: str = "") -> Lethe:
    return Lethe.from_toml(backend.policy(extra), base_dir=tmp_path, env=dict(os.environ))


def test_a_run_deletes_exactly_the_due_items_once(backend: Backend, tmp_path: Path) -> None:
    due, kept = _seeded(backend)
    with _lethe(backend, tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.ok and result.deleted == len(due)
        assert backend.keys() == kept
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "hard_deleted"]
        assert sorted(e["item_key"] for e in events) == sorted(due)
        assert lethe.run(as_of=NOW).deleted == 0
        assert lethe.verify_audit().ok


def test_a_dry_run_lists_exactly_the_due_items_and_removes_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    due, kept = _seeded(backend)
    with _lethe(backend, tmp_path) as lethe:
        plan = lethe.plan(as_of=NOW)
        assert sorted(str(k) for k in plan.phases[0].keys) == sorted(due)
        dry = lethe.run(as_of=NOW, dry_run=True)
        assert dry.dry_run and dry.phases[0].acted == len(due)
        assert backend.keys() == due | kept
        assert lethe.runtime.ledger.head()[0] == 0


def test_the_cap_stops_a_run_and_the_next_run_continues(backend: Backend, tmp_path: Path) -> None:
    due, kept = _seeded(backend)
    extra = "[limits]\nbatch_size = 1\nmax_deletions = 2\n"
    with _lethe(backend, tmp_path, extra) as lethe:
        first = lethe.run(as_of=NOW)
        assert (first.phases[0].acted, first.phases[0].capped) == (2, 3)
        assert len(backend.keys() & due) == 3
        assert [lethe.run(as_of=NOW).deleted for _ in range(3)] == [2, 1, 0]
        assert backend.keys() == kept


def test_exact_and_prefix_holds_keep_their_items(backend: Backend, tmp_path: Path) -> None:
    _, kept = _seeded(backend)
    extra_due = {backend.key(11), backend.key(13)}
    backend.seed(dict.fromkeys(sorted(extra_due), OLD))
    first, second = backend.key(11), backend.key(13)
    prefix = first[: next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)]
    prefix += "*"
    with _lethe(backend, tmp_path) as lethe:
        lethe.holds.add("items", backend.key(2), "litigation", "dpo")
        lethe.holds.add("items", prefix, "whole family", "dpo")
        assert set(map(str, lethe.plan(as_of=NOW).phases[0].held)) == extra_due | {backend.key(2)}
        result = lethe.run(as_of=NOW)
        assert result.phases[0].held == 3
        assert backend.keys() == kept | extra_due | {backend.key(2)}
        explained = lethe.explain("items", backend.key(11), as_of=NOW)
        assert [h.item_key for h in explained.registry_holds] == [prefix]


def test_a_batch_left_by_an_exception_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    due, kept = _seeded(backend)
    with _lethe(backend, tmp_path) as lethe:
        target = lethe.runtime.target("expire")
        selection = target.selection(0, NOW)
        with pytest.raises(RuntimeError), target.handle.open_batch() as batch:
            items = batch.lock(selection, limit=100, skip_locked=True)
            batch.delete([item.key for item in items])
            raise RuntimeError("crash before commit")
        assert backend.keys() == due | kept


def test_paging_with_a_cursor_sees_every_item_once(backend: Backend, tmp_path: Path) -> None:
    due, kept = _seeded(backend)
    with _lethe(backend, tmp_path) as lethe:
        handle = lethe.runtime.target("expire").handle
        seen: list[str] = []
        after = None
        while True:
            page = handle.select(All(()), after=after, limit=3)
            seen += [str(item.key) for item in page]
            if len(page) < 3:
                break
            after = page[-1].key
        assert sorted(seen) == sorted(due | kept)
        assert handle.table_sizes() == {handle.table: len(due | kept)}
        assert handle.count(lethe.runtime.target("expire").selection(0, NOW)) == (len(due), 0)


def test_a_second_run_of_the_same_engine_lists_the_store_afresh(
    backend: Backend, tmp_path: Path
) -> None:
    kept = {backend.key(n) for n in KEPT}
    backend.seed(dict.fromkeys(sorted(kept), YOUNG))
    with _lethe(backend, tmp_path) as lethe:
        assert lethe.run(as_of=NOW).deleted == 0  # a listing that found nothing at all
        due = {backend.key(n) for n in DUE}
        backend.seed(dict.fromkeys(sorted(due), OLD))
        assert lethe.run(as_of=NOW).deleted == len(due)
        assert backend.keys() == kept
