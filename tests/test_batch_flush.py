"""A batch's audit goes to the ledger on a thread of its own while the next batch runs; a stop
between batches must still leave every committed batch in the ledger, with no intent pending
(the run's end flushes), and an append that failed is settled by the next run."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from lethe import Lethe
from lethe.engine.executor import BatchReport
from lethe.engine.hooks import CommittedBatch, add_batch_listener, remove_batch_listener
from lethe.engine.stop import StopFlag, StopRequested
from lethe.errors import StoreError
from lethe.state.batches import _Append, _Appender
from lethe.state.ledger import EventDraft, Ledger
from lethe.stores.sql.dataset import SQLBatch
from tests.support.apps import NOW
from tests.support.crash import purge_census


def test_a_stop_mid_phase_flushes_the_last_batchs_audit(sqlite_url: str, tmp_path: Path) -> None:
    policy = purge_census(sqlite_url, tmp_path, surveys=100, responses=1, batch_size=10, due=NOW)
    stop = StopFlag()
    heard: list[CommittedBatch] = []

    def after_third(report: BatchReport) -> None:
        reports.append(report)
        if len(reports) == 3:
            stop.set("SIGTERM")  # what the signal handler does

    reports: list[BatchReport] = []
    add_batch_listener(heard.append)
    try:
        with Lethe.from_file(policy, env={}) as lethe:
            try:
                result = lethe.run(as_of=NOW, progress=after_third, stop=stop)
                assert result.status.value == "interrupted"
            except StopRequested:
                pass
            deleted = [
                e["item_key"]
                for e in lethe.runtime.ledger.iter_events()
                if e["event"] == "hard_deleted"
            ]
            assert len(deleted) == 30, "the third batch's events were flushed at the stop"
            assert lethe.runtime.batches.pending() == []
            assert lethe.verify_audit().ok
            # every batch a listener heard of is in the ledger, once per key
            told = sorted(str(k) for b in heard for k in b.keys)
            assert told == sorted(deleted)
    finally:
        remove_batch_listener(heard.append)


def _appends_seen(monkeypatch: pytest.MonkeyPatch, fail_on: int = 0) -> list[str]:
    """The thread of each ledger append of a batch's events (the run's own events apart);
    with ``fail_on``, that append (counting from 1) fails as a full state disk would."""
    threads: list[str] = []
    append = Ledger.append

    def watched(self: Ledger, conn: Connection, drafts: Sequence[EventDraft]) -> tuple[int, str]:
        if drafts and all(d.batch_id for d in drafts):
            threads.append(threading.current_thread().name)
            if len(threads) == fail_on:
                raise StoreError("state database: database or disk is full (injected)")
        return append(self, conn, drafts)

    monkeypatch.setattr(Ledger, "append", watched)
    return threads


def test_a_committed_batchs_events_are_appended_while_the_next_batch_runs(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = purge_census(sqlite_url, tmp_path, surveys=50, responses=1, batch_size=10, due=NOW)
    threads = _appends_seen(monkeypatch)
    with Lethe.from_file(policy, env={}) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.errors == () and result.deleted == 50
        assert len(threads) == 5
        # off the run's thread: the store's next statement does not wait for the ledger; the
        # last batch's events, with no batch after them, are appended by the phase's flush
        assert all(name.startswith("lethe-ledger-") for name in threads[:4]), threads
        deleted = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "hard_deleted"]
        assert len(deleted) == 50
        assert lethe.runtime.batches.pending() == []
        assert lethe.verify_audit().ok


def test_a_batchs_append_starts_once_the_next_batch_has_its_rows_locked(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started at the commit, the append held the interpreter through the next batch's
    checkout and lock, and each of their round trips waited for it (a switch interval, 5 ms,
    each); it starts when the next batch's store begins to act instead."""
    policy = purge_census(sqlite_url, tmp_path, surveys=50, responses=1, batch_size=10, due=NOW)
    locks: list[int] = []
    started: list[int] = []  # per batch append: how many locks had returned when it began
    lock = SQLBatch.lock
    append = Ledger.append

    def counted(self: SQLBatch, *args: Any, **kwargs: Any) -> list[Any]:
        items = lock(self, *args, **kwargs)
        locks.append(len(items))
        return items

    def watched(self: Ledger, conn: Connection, drafts: Sequence[EventDraft]) -> tuple[int, str]:
        if drafts and all(d.batch_id for d in drafts):
            started.append(len(locks))
        return append(self, conn, drafts)

    monkeypatch.setattr(SQLBatch, "lock", counted)
    monkeypatch.setattr(Ledger, "append", watched)
    with Lethe.from_file(policy, env={}) as lethe:
        assert lethe.run(as_of=NOW).deleted == 50
    # batch n's append began after batch n + 1's lock; the last one's after the empty lock
    # that ended the phase
    assert locks[:5] == [10] * 5
    assert started == [2, 3, 4, 5, 6], (started, locks)


def test_an_append_that_failed_stops_the_run_and_the_next_run_settles_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = purge_census(sqlite_url, tmp_path, surveys=50, responses=1, batch_size=10, due=NOW)
    _appends_seen(monkeypatch, fail_on=2)
    with Lethe.from_file(policy, env={}) as lethe:
        result = lethe.run(as_of=NOW)
        assert any("disk is full (injected)" in e for e in result.errors), result.errors
        # the third batch waited for the second's append, learnt it failed, and rolled back
        assert result.deleted == 20
        assert len(lethe.runtime.batches.pending()) == 1  # the second batch's intent
    monkeypatch.undo()
    with Lethe.from_file(policy, env={}) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.errors == () and result.deleted == 30
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "hard_deleted"]
        assert sorted(int(e["item_key"]) for e in events) == list(range(1, 51))
        assert sum(1 for e in events if e["details"].get("recovered")) == 10
        assert lethe.runtime.batches.pending() == []
        assert lethe.verify_audit().ok


def test_the_appender_thread_ends_when_idle_and_comes_back_for_the_next_run(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process embedding lethe keeps no ledger thread between runs, and the next run's
    appends still go off the run's thread."""
    monkeypatch.setattr(_Appender, "IDLE", 0.05)
    policy = purge_census(sqlite_url, tmp_path, surveys=40, responses=1, batch_size=10, due=NOW)

    def ledger_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("lethe-ledger-")]

    threads = _appends_seen(monkeypatch)
    stop = StopFlag()

    def after_second(report: BatchReport) -> None:
        done.append(report)
        if len(done) == 2:
            stop.set("SIGTERM")

    done: list[BatchReport] = []
    with Lethe.from_file(policy, env={}) as lethe:
        with contextlib.suppress(StopRequested):  # raised, or an interrupted result
            lethe.run(as_of=NOW, progress=after_second, stop=stop)
        assert len(done) == 2
        deadline = time.monotonic() + 5
        while ledger_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ledger_threads() == []
        assert lethe.run(as_of=NOW).deleted == 20
        assert sum(name.startswith("lethe-ledger-") for name in threads) == 2, threads
        assert lethe.runtime.batches.pending() == []
        assert lethe.verify_audit().ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_gets_an_appender_thread_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prefork server that ran lethe before forking: the child's appends must not wait for
    the parent's thread, which the child does not have."""
    monkeypatch.setattr(_Appender, "IDLE", 30.0)  # the parent's thread outlives the fork

    class Log:
        def _append_alone(self, committed: object) -> None:
            pass

    appender = _Appender()
    first = _Append(Log(), ("b-1", []))  # type: ignore[arg-type]
    appender.submit(first)
    assert first.done.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its append ran
        second = _Append(Log(), ("b-2", []))  # type: ignore[arg-type]
        appender.submit(second)
        os._exit(0 if second.done.wait(5) else 1)
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child's append never ran")
    assert os.waitstatus_to_exitcode(done[1]) == 0
