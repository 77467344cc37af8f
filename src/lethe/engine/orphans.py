"""``lethe orphans``: rows whose linked item is gone, and items no row points to.

Both sides are streamed a page at a time: rows are read with their link column and the items
they name are looked up in the linked store; items are listed and the rows naming them are
looked up in the table. Nothing is deleted unless the table dataset says ``orphans = "delete"``
and the command is asked to (``--delete``): then items that no row points to *and* that are due
by their own dataset's rule (so a file uploaded a moment before its row is written is never
taken) and not held are deleted, each with an ``orphan_deleted`` audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lethe.engine.runtime import Runtime, Target
from lethe.errors import ConfigError
from lethe.model.conditions import All, Condition, In, NotNull
from lethe.model.keys import key_text
from lethe.state.ledger import EventDraft
from lethe.stores.links import LinkedItems

__all__ = ["OrphanReport", "orphans"]

_PAGE = 500
_SAMPLE = 20


@dataclass
class OrphanReport:
    """Orphans of one link of one policy's dataset (counts, and the first keys of each)."""

    policy: str
    dataset: str
    linked: str
    rows_without_item: int = 0
    items_without_row: int = 0
    deleted: int = 0
    failed: int = 0
    row_examples: list[str] = field(default_factory=list)
    item_examples: list[str] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pages(texts: Iterable[str]) -> Iterator[list[str]]:
    page: list[str] = []
    for text in texts:
        page.append(text)
        if len(page) == _PAGE:
            yield page
            page = []
    if page:
        yield page


def _note(examples: list[str], found: Sequence[str]) -> None:
    examples.extend(found[: max(0, _SAMPLE - len(examples))])


def _rows_without_item(links: LinkedItems, report: OrphanReport) -> None:
    rows = links.source.iter_select(NotNull(links.link.column))
    for page in _pages(key_text(item.key) for item in rows):
        named = links.resolve([links.source.parse_key(k) for k in page])
        present = links.target.fetch([links.target.parse_key(v) for v in named.values()], [])
        missing = sorted(row for row, item in named.items() if item not in present)
        report.rows_without_item += len(missing)
        _note(report.row_examples, missing)


def _unreferenced(links: LinkedItems, page: Sequence[str]) -> list[str]:
    """The items of ``page`` that no row of the source dataset names."""
    prefix = links.link.prefix
    values: list[Any] = [t[len(prefix) :] for t in page if t.startswith(prefix)]
    if prefix and values and all(str(v).isdigit() for v in values):
        values = [int(v) for v in values]  # "job:42" names the row whose job_id is 42
    found = [item.key for item in links.source.iter_select(In(links.link.column, tuple(values)))]
    named = set(links.resolve(found).values()) if found else set()
    return [t for t in page if t not in named]


def _items_without_row(
    rt: Runtime, links: LinkedItems, report: OrphanReport, delete: Condition | None
) -> None:
    listing = links.target.iter_select(All(()) if delete is None else delete)
    for page in _pages(key_text(item.key) for item in listing if not item.unreadable):
        lonely = _unreferenced(links, page)
        report.items_without_row += len(lonely)
        _note(report.item_examples, lonely)
        if delete is not None and lonely:
            held = rt.holds.active_keys(links.name, lonely)
            _delete(rt, links, report, [t for t in lonely if t not in held])


def _delete(rt: Runtime, links: LinkedItems, report: OrphanReport, keys: list[str]) -> None:
    failures = links.delete(keys)
    run_id = f"orphans-{report.policy}"
    drafts = [
        EventDraft(
            run_id=run_id,
            # skipped_error, as the engine records an item it could not act on (the next
            # orphans --delete tries it again).
            event="skipped_error" if key in failures else "orphan_deleted",
            policy=report.policy,
            dataset=links.name,
            item_key=key,
            details={"error": failures[key], "linked_from": report.dataset}
            if key in failures
            else {"linked_from": report.dataset},
        )
        for key in keys
    ]
    with rt.state.write() as conn:
        rt.ledger.append(conn, drafts)
    report.deleted += len(keys) - len(failures)
    report.failed += len(failures)


def _report(
    rt: Runtime, target: Target, links: LinkedItems, delete: bool, now: datetime
) -> OrphanReport:
    report = OrphanReport(target.policy, target.dataset, links.name)
    _rows_without_item(links, report)
    if delete and target.dataset_config.orphans == "delete":
        due = rt.config.datasets[links.name]
        deleting = OrphanReport(target.policy, target.dataset, links.name)
        _items_without_row(rt, links, deleting, All((due.filters(now), due.due(now))))
        report.deleted, report.failed = deleting.deleted, deleting.failed
    _items_without_row(rt, links, report, None)  # what is left
    return report


def orphans(
    rt: Runtime,
    policies: Sequence[str] | None = None,
    *,
    delete: bool = False,
    as_of: datetime | None = None,
) -> list[OrphanReport]:
    """One report per link of each policy's dataset (every enabled policy by default)."""
    real = rt.state.now()
    now = as_of or real
    if delete and now > real:
        raise ConfigError(
            f"as-of {now.isoformat()} is later than now ({real.isoformat()}): orphans are "
            "never deleted ahead of time; report them without --delete"
        )
    return [
        _report(rt, target, links, delete, now)
        for target in rt.targets(policies)
        for links in target.links
    ]
