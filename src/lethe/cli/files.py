"""``lethe files``: the file retry ledger, the files of removed rows not deleted yet."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lethe.cli.context import state

__all__ = ["register"]


def files(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the files of removed rows that their storage has not deleted yet (every run
    retries them; docs/django.md, "Files")."""
    cli = state(ctx)
    waiting = cli.lethe().runtime.files.waiting()
    documents = [
        {
            "dataset": f.dataset,
            "item": f.item_key,
            "table": f.table,
            "column": f.column,
            "storage": f.storage,
            "name": f.name,
            "attempts": f.attempts,
            "error": f.error,
            "batch": f.batch_id,
            "batchStatus": status,
        }
        for f, status in waiting
    ]
    if as_json:
        typer.echo(json.dumps(documents, indent=1))
        return
    if not documents:
        cli.console.print("No files waiting: every file of a removed row was deleted.")
        return
    for d in documents:
        state_ = {
            "committed": f"{d['attempts']} attempts, last: {d['error']}"
            if d["attempts"]
            else "not tried yet",
            "pending": "its batch awaits recovery (a run was interrupted)",
        }.get(str(d["batchStatus"]), "its batch rolled back: forgotten by the next run")
        cli.console.print(
            f"{d['dataset']} {d['item']}: {d['table']}.{d['column']} {d['name']!r} "
            f"({d['storage']}): {state_}",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``lethe files`` to ``app``."""
    app.command("files")(files)
