"""A batch's audit rides on the run's next state commit; a stop between batches must still
leave every committed batch in the ledger, with no intent pending (the run's end flushes)."""

from __future__ import annotations

from pathlib import Path

from lethe import Lethe
from lethe.engine.executor import BatchReport
from lethe.engine.hooks import CommittedBatch, add_batch_listener, remove_batch_listener
from lethe.engine.stop import StopFlag, StopRequested
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
