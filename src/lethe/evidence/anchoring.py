"""Publishing run heads to the configured anchors after a run, and checking them on verify.

Publishing happens after the run's head entry committed, never inside a deletion's
transaction, and never fails the run: an anchor that cannot be reached is recorded
``failed`` in ``lethe_anchors``, the run carries a warning, and every head an anchor does not
hold yet is published again at the next real run (so a crash between the commit and the
publish is caught up the same way). Verify compares, per anchor, the heads it keeps with the
ledger's: docs/evidence.md "Anchors".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lethe import secrets
from lethe.errors import LetheError
from lethe.evidence.anchors.base import Anchor, AnchorConfig, Head
from lethe.state.anchors import ANCHORED, AnchorLog, AnchorRow

__all__ = ["AnchorCheck", "check_anchors", "probe_anchors", "publish_pending"]

log = logging.getLogger(__name__)


def _build(config: AnchorConfig, base_dir: Path, env: Mapping[str, str]) -> Anchor:
    return config.build(base_dir, env)


def publish_pending(
    configs: Sequence[AnchorConfig], base_dir: Path, env: Mapping[str, str], state: AnchorLog
) -> list[str]:
    """Publish every head each anchor does not hold yet; one warning per anchor that failed
    (the rest of its heads wait for the next run: the place is likely down)."""
    warnings: list[str] = []
    for config in configs:
        name = config.label
        try:
            pending = state.pending(name)
            if not pending:
                continue
            anchor = _build(config, base_dir, env)
        except LetheError as exc:
            warnings.append(f"anchor {name}: run heads not published: {exc}")
            continue
        try:
            for count, head in enumerate(pending):
                # The run is over: not even a bug in an anchor may fail it now.
                try:
                    receipt = anchor.publish(head)
                except Exception as exc:
                    reason = str(exc) if isinstance(exc, LetheError) else _unexpected(exc)
                    state.record(name, head, error=reason)
                    left = len(pending) - count
                    warnings.append(
                        f"anchor {name}: run {head.run_id}'s head not published ({reason}); "
                        f"{left} head(s) wait for the next run"
                    )
                    break
                state.record(name, head, receipt=receipt)
                log.info("anchor %s: run %s head published (%s)", name, head.run_id, receipt)
        except LetheError as exc:  # the state database itself failed: the run has its error
            warnings.append(f"anchor {name}: publishing stopped: {exc}")
        finally:
            anchor.close()
    return warnings


def _unexpected(exc: BaseException) -> str:
    """An error no anchor meant to raise, in one line without secrets."""
    log.debug("anchor failed unexpectedly", exc_info=exc)
    return secrets.scrub(f"unexpected {type(exc).__name__}: {exc}".splitlines()[0])


def probe_anchors(
    configs: Sequence[AnchorConfig], base_dir: Path, env: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``lethe check``'s findings per anchor, each message naming the anchor; nothing is
    written."""
    found: list[tuple[str, str]] = []
    for config in configs:
        try:
            anchor = _build(config, base_dir, env)
        except LetheError as exc:
            found.append(("error", f"anchor {config.label}: {exc}"))
            continue
        try:
            found += [(level, f"anchor {config.label}: {text}") for level, text in anchor.probe()]
        finally:
            anchor.close()
    return found


@dataclass
class AnchorCheck:
    """What verify found at the anchors: ``problems`` fail it, ``notes`` say what was checked."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_anchors(
    configs: Sequence[AnchorConfig], base_dir: Path, env: Mapping[str, str], state: AnchorLog
) -> AnchorCheck:
    """Every ledger head must be at every readable anchor with the same hash (and
    signature), and every head an anchor keeps must be in the ledger with that hash."""
    check = AnchorCheck()
    if not configs:
        return check
    heads = state.heads()
    for config in configs:
        name = config.label
        try:
            anchor = _build(config, base_dir, env)
        except LetheError as exc:
            check.problems.append(f"anchor {name}: cannot be opened: {exc}")
            continue
        try:
            reading = anchor.read()
        except LetheError as exc:
            check.problems.append(f"anchor {name}: cannot be read: {exc}")
            continue
        finally:
            anchor.close()
        where = f"anchor {name} ({anchor.describe()})"
        if reading is None:
            _delivered(check, where, heads, state.rows(name))
            continue
        check.problems.extend(f"anchor {name}: {p}" for p in reading.problems)
        before = len(check.problems)
        _compare(check, where, heads, reading.heads, state.rows(name))
        if len(check.problems) == before:
            check.notes.append(f"{where}: all {len(heads)} run heads match")
    return check


def _compare(
    check: AnchorCheck,
    where: str,
    ledger: list[Head],
    kept: list[Head],
    rows: Mapping[str, AnchorRow],
) -> None:
    by_run: dict[str, Head] = {}
    for head in kept:
        seen = by_run.setdefault(head.run_id, head)
        if seen != head:
            check.problems.append(
                f"{where}: run {head.run_id} is anchored twice with different heads "
                f"({seen.hash[:16]}…, {head.hash[:16]}…)"
            )
    in_ledger = {h.run_id: h for h in ledger}
    for head in ledger:
        anchored = by_run.get(head.run_id)
        if anchored is None:
            row = rows.get(head.run_id)
            why = f" (publishing failed: {row.error})" if row and row.error else ""
            check.problems.append(
                f"{where}: run {head.run_id}'s head (entry {head.entry}) is not anchored{why}"
            )
        elif anchored.hash != head.hash:
            check.problems.append(
                f"{where}: run {head.run_id}'s head differs: anchored entry {anchored.entry} "
                f"hash {anchored.hash}, the ledger's entry {head.entry} hash {head.hash} "
                "(the ledger was rewritten)"
            )
        elif anchored.signature is not None and anchored.signature != head.signature:
            check.problems.append(
                f"{where}: run {head.run_id}'s head has another signature in the ledger than "
                f"anchored (key {head.key_id}, anchored by key {anchored.key_id}): the ledger "
                "was re-signed"
            )
    for run_id, anchored in by_run.items():
        if run_id not in in_ledger:
            check.problems.append(
                f"{where}: run {run_id} is anchored (entry {anchored.entry}, hash "
                f"{anchored.hash}) but the ledger has no head for it (the ledger was rolled "
                "back or rewritten)"
            )


def _delivered(
    check: AnchorCheck, where: str, ledger: list[Head], rows: Mapping[str, AnchorRow]
) -> None:
    """A write-only anchor: each head must have been delivered, by the state's account."""
    delivered = 0
    for head in ledger:
        row = rows.get(head.run_id)
        if row is not None and row.status == ANCHORED and row.hash == head.hash:
            delivered += 1
        elif row is not None and row.status == ANCHORED:
            check.problems.append(
                f"{where}: run {head.run_id}'s head was delivered with hash {row.hash}, the "
                f"ledger's entry {head.entry} has {head.hash} (the ledger was rewritten)"
            )
        else:
            why = f" (publishing failed: {row.error})" if row is not None and row.error else ""
            check.problems.append(
                f"{where}: run {head.run_id}'s head (entry {head.entry}) was not delivered{why}"
            )
    check.notes.append(
        f"{where}: {delivered} of {len(ledger)} run heads delivered, not checkable "
        "(a webhook cannot be read back: compare with what its receiver kept)"
    )
