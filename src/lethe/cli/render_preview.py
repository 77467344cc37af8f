"""``lethe plan --against``'s text: per dataset, what changes at the plan instant and by when."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from lethe.cli.tables import print_table
from lethe.engine.preview import KINDS, DatasetPreview, Moment, Preview
from lethe.model.text import stamp

__all__ = ["render_preview"]

_TITLES = {
    "becomes_due": "becomes due",
    "no_longer_due": "no longer due",
    "changes_phase": "changes phase",
}


def render_preview(console: Console, preview: Preview) -> None:
    """Each dataset's counts at the plan instant and on each day they change, then samples."""
    span = f" and over the next {preview.days} days" if preview.days else ""
    console.print(
        f"{escape(preview.new_source)} against {escape(preview.old_source)}, "
        f"at {stamp(preview.as_of)}{span} (reads only; nothing was changed)\n"
    )
    for ds in preview.datasets:
        _dataset(console, ds)
    if not any(m.total for ds in preview.datasets for m in ds.moments):
        console.print("No item is judged differently.")


def _dataset(console: Console, ds: DatasetPreview) -> None:
    old = ", ".join(ds.old_policies) or "no policy"
    new = ", ".join(ds.new_policies) or "no policy"
    console.print(f"[bold]{escape(ds.dataset)}[/bold] (old: {escape(old)}; new: {escape(new)})")
    if not any(m.total for m in ds.moments):
        console.print("  no item is judged differently\n")
        return
    shown = _changing(ds.moments)
    rows = [
        [("plan instant" if i == 0 else f"+{i} d") + f" {stamp(m.as_of)}"]
        + [str(m.counts[kind]) for kind in KINDS]
        for i, m in shown
    ]
    print_table(console, ("at", *(_TITLES[k] for k in KINDS)), rows)
    for label, moment in (("now", ds.moments[0]), ("by the last day", ds.moments[-1])):
        for kind in KINDS:
            for change in moment.samples[kind]:
                before = change.old.describe() if change.old else "no phase"
                after = change.new.describe() if change.new else "no phase"
                console.print(
                    f"  {label}, {_TITLES[kind]}: {escape(change.key)} "
                    f"({escape(before)} → {escape(after)})",
                )
        if len(ds.moments) == 1:
            break
    console.print()


def _changing(moments: tuple[Moment, ...]) -> list[tuple[int, Moment]]:
    """The plan instant, every day whose counts differ from the day before, and the last."""
    shown: list[tuple[int, Moment]] = []
    for index, moment in enumerate(moments):
        last = index == len(moments) - 1
        if index == 0 or last or moment.counts != moments[index - 1].counts:
            shown.append((index, moment))
    return shown
