"""A run leaves the objects alive at its start out of the collector's passes, and hands them
back at its end (lethe.engine.collector)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from lethe import Lethe
from lethe.engine.collector import run_objects_only
from tests.support.apps import NOW
from tests.support.crash import purge_census


def test_objects_alive_at_the_start_are_frozen_for_the_block_only() -> None:
    assert gc.get_freeze_count() == 0
    with run_objects_only():
        assert gc.get_freeze_count() > 0
        # garbage made during the block is still collected
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0


def test_nested_and_failing_blocks_unfreeze_once_at_the_outermost_end() -> None:
    with pytest.raises(RuntimeError), run_objects_only():
        with run_objects_only():
            frozen = gc.get_freeze_count()
        assert gc.get_freeze_count() == frozen > 0  # the inner end left it frozen
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_concurrent_runs_unfreeze_when_the_last_one_ends() -> None:
    inside, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with run_objects_only():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_run)
    thread.start()
    assert inside.wait(5)
    with run_objects_only():
        pass
    assert gc.get_freeze_count() > 0  # the other run is still going
    release.set()
    thread.join(5)
    assert gc.get_freeze_count() == 0


def test_a_run_through_the_api_leaves_its_starting_objects_frozen_while_it_runs(
    tmp_path: Path,
) -> None:
    policy = purge_census(
        f"sqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        surveys=30,
        responses=2,
        batch_size=10,
        due=NOW,
    )
    frozen: list[int] = []
    with Lethe.from_file(policy, env={}) as lethe:
        result = lethe.run(as_of=NOW, progress=lambda _: frozen.append(gc.get_freeze_count()))
    assert result.errors == () and result.deleted == 30
    assert len(frozen) == 3 and all(n > 0 for n in frozen)
    assert gc.get_freeze_count() == 0
