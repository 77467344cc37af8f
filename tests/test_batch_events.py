"""A batch's events as one object (:class:`BatchEvents`) and the compact intent (version 2).

The ledger must seal a :class:`BatchEvents` exactly as it seals the same events one
:class:`EventDraft` each (same rows, same leaves: receipts and ``lethe audit verify`` recompute
them), an intent must give back every event it was given, and a version 1 intent (written
before) must still settle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lethe.state.batches import BatchLog, _compact, _events
from lethe.state.db import StateDB
from lethe.state.ledger import BatchEvents, EventDraft, Ledger, _seal
from lethe.state.runs import RunLog
from lethe.state.schema import batches

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
details = st.dictionaries(
    texts,
    st.integers() | texts | st.dictionaries(texts, st.integers(min_value=0), max_size=3),
    max_size=3,
)
# Runs of equal details are what the compact intent folds: draw from a few so they occur.
few_details = st.lists(details, min_size=1, max_size=3).flatmap(
    lambda pool: st.lists(st.sampled_from(pool), max_size=30)
)
others = st.lists(
    st.tuples(st.sampled_from(["skipped_hold", "skipped_blocked"]), texts, details), max_size=4
)


def _batch(acted: list[dict[str, Any]], skipped: list[tuple[str, str, Any]]) -> BatchEvents:
    rows = [("hard_deleted", f"k{i}", d) for i, d in enumerate(acted)] + skipped
    return BatchEvents("run-1", "purge", "surveys", 0, "b-1", rows)


@given(few_details, others, st.integers(min_value=0, max_value=10**6))
def test_a_batch_is_sealed_as_its_events_one_draft_each(
    acted: list[dict[str, Any]], skipped: list[tuple[str, str, Any]], after: int
) -> None:
    batch = _batch(acted, skipped)
    drafts = list(batch)
    assert all(isinstance(d, EventDraft) and d.batch_id == "b-1" for d in drafts)
    ts, prev = "2026-12-03T12:00:00+00:00", "ab" * 32
    assert _seal(batch, after, ts, 7, prev) == _seal(drafts, after, ts, 7, prev)


@given(few_details, others)
def test_an_intent_gives_back_every_event_it_was_given(
    acted: list[dict[str, Any]], skipped: list[tuple[str, str, Any]]
) -> None:
    batch = _batch(acted, skipped)
    keys = [f"k{i}" for i in range(len(acted))]
    for drafts in (batch, list(batch)):  # the executor's batches, and drafts from elsewhere
        payload: dict[str, Any] = {"v": 2, "keys": keys, "action_event": "hard_deleted"}
        payload |= _compact(keys, "hard_deleted", drafts)
        assert list(_events(payload)) == [(e, k, dict(d)) for e, k, d in batch.rows]
        if acted:  # equal details are carried once per run of them, not once per event
            runs = 1 + sum(a != b for a, b in pairwise(acted))
            assert len(payload["details"]) == runs


def test_an_intent_whose_events_are_not_its_keys_lists_them_all() -> None:
    batch = _batch([{"a": 1}, {"a": 2}], [])
    keys = ["k1", "k0"]  # not the events' order
    payload: dict[str, Any] = {"v": 2, "keys": keys, "action_event": "hard_deleted"}
    payload |= _compact(keys, "hard_deleted", batch)
    assert payload["details"] is None
    assert list(_events(payload)) == [(e, k, dict(d)) for e, k, d in batch.rows]


def _log(tmp_path: Path) -> tuple[StateDB, Ledger, BatchLog]:
    state = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    ledger = Ledger(state)
    now = datetime.now(UTC)
    RunLog(state, None).start("run-1", ["purge"], False, now, now, timedelta(hours=1))
    return state, ledger, BatchLog(state, ledger)


def _recovered(ledger: Ledger) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(e["event"], e["item_key"], e["details"]) for e in ledger.iter_events()]


def test_a_compact_intent_and_a_version_1_intent_settle_to_the_same_events(
    tmp_path: Path,
) -> None:
    cascade = {"action": "purge", "cascade": {"responses": 2}}
    batch = _batch(
        [cascade, cascade, {"action": "purge", "cascade": {}}],
        [("skipped_hold", "h1", {"by": "registry", "hold": "registry:1"})],
    )
    keys = ["k0", "k1", "k2"]
    recovered = []
    for version in (2, 1):
        state, ledger, log = _log(tmp_path / f"v{version}")
        log.prepare("b-1", "run-1", "purge", 0, keys, "hard_deleted", batch)
        if version == 1:  # as a lethe before the compact intent wrote it
            with state.write() as conn:
                row = conn.execute(batches.select()).mappings().one()
                payload = {
                    k: v for k, v in row["payload"].items() if k not in ("details", "others")
                }
                payload |= {"v": 1, "events": [[e, k, dict(d)] for e, k, d in batch.rows]}
                conn.execute(batches.update().values(payload=payload))
        assert log.settle("b-1", {"k0", "k2"}, note="settled") == 3
        recovered.append(_recovered(ledger))
        assert ledger.verify().ok
        state.dispose()
    note = {"recovered": "settled"}
    assert (
        recovered[0]
        == recovered[1]
        == [
            ("hard_deleted", "k0", {**cascade, **note}),
            ("hard_deleted", "k2", {"action": "purge", "cascade": {}, **note}),
            ("skipped_hold", "h1", {"by": "registry", "hold": "registry:1", **note}),
        ]
    )
