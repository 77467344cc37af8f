"""Tables that never cut a value: a table when it fits the terminal, else one block per row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["print_table"]

_UNBOUNDED = 100_000


def print_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (Rich markup allowed) under ``headers``.

    Rich would fit a wide table to the terminal by cutting cells (``run-2026…``), and an id
    cut is useless. So the table is printed only when every cell fits whole; otherwise each
    row becomes a block: its first cell (the id) on one line, then ``header: value`` pairs,
    which the terminal wraps without losing a character.
    """
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    unbounded = console.options.update(width=_UNBOUNDED, max_width=_UNBOUNDED)
    needed = Measurement.get(console, unbounded, table).maximum
    if needed <= console.width:
        console.print(table)
        return
    for row in rows:
        console.print(Text.from_markup(f"{headers[0]}: {row[0]}", style="bold"))
        cells = zip(headers[1:], row[1:], strict=True)
        pairs = [f"{header}: {value}" for header, value in cells if value]
        console.print(Text.from_markup("  " + " · ".join(pairs)))
