"""A blob dataset: the objects under one or more prefixes.

Object stores (S3, GCS, Azure) list in key order, a page of 1,000 at a time, from any key
(``offset``), so listing is streamed with bounded memory. A local directory lists in no order,
so it is walked one directory level at a time, sorted (memory bounded by the largest
directory). Either way items come in key order, which is what the executor's cursor needs.

Columns: ``key``, ``last_modified``, ``size``, ``e_tag`` come with the listing; ``metadata.NAME``
is the object's user metadata ``NAME`` (``x-amz-meta-NAME`` on S3), read with one HEAD request
per listed object, only when a condition needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import NotFoundError

from lethe.config.datasets import DatasetConfig
from lethe.stores.blob.errors import translate
from lethe.stores.listed import ListedDataset, Row, chunked

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ObjectStore

__all__ = ["METADATA", "BlobDataset"]

#: Columns named ``metadata.NAME`` read the object's user metadata ``NAME``.
METADATA = "metadata."
#: S3 DeleteObjects takes at most 1,000 keys per request.
DELETE_CHUNK = 1000
_PAGE = 1000


class BlobDataset(ListedDataset):
    """The objects under a dataset's prefixes, in key order."""

    def __init__(
        self, name: str, config: DatasetConfig, store: ObjectStore, local: bool, label: str
    ) -> None:
        self.name = name
        self.config = config
        self.store = store
        self.local = local
        self.label = label
        self.prefixes = sorted(config.prefixes or [])

    @property
    def table(self) -> str:
        return ",".join(self.prefixes)

    # -- listing -------------------------------------------------------------------------

    def objects(self, after: str | None) -> Iterator[ObjectMeta]:
        """Every object under the prefixes with a key after ``after``, in key order."""
        for prefix in self.prefixes:
            if after is not None and after > prefix and not after.startswith(prefix):
                continue  # every key under this prefix sorts before ``after``
            with translate(self.label):
                if self.local:
                    yield from self._walk(prefix, after)
                else:
                    offset = after if after is not None and after > prefix else None
                    for page in obstore.list(self.store, prefix, offset=offset, chunk_size=_PAGE):
                        yield from page

    def _walk(self, prefix: str, after: str | None) -> Iterator[ObjectMeta]:
        level = obstore.list_with_delimiter(self.store, prefix)
        entries: list[tuple[str, ObjectMeta | None]] = [(o["path"], o) for o in level["objects"]]
        entries += [(p.rstrip("/") + "/", None) for p in level["common_prefixes"]]
        for path, meta in sorted(entries, key=lambda entry: entry[0]):
            if meta is None:
                if after is None or after < path or after.startswith(path):
                    yield from self._walk(path, after)
            elif after is None or path > after:
                yield meta

    def rows(self, columns: set[str], after: str | None) -> Iterator[tuple[str, Row]]:
        for meta in self.objects(after):
            yield meta["path"], self._row(meta, columns)

    def _row(self, meta: ObjectMeta, columns: set[str]) -> Row:
        row: Row = {
            "key": meta["path"],
            "last_modified": meta["last_modified"],
            "size": meta["size"],
            "e_tag": meta["e_tag"],
        }
        wanted = {c[len(METADATA) :] for c in columns if c.startswith(METADATA)}
        if wanted:
            attributes = self._attributes(meta["path"])
            lowered = {str(k).lower(): v for k, v in attributes.items()}
            for name in wanted:
                row[METADATA + name] = lowered.get(name.lower())
        return row

    def _attributes(self, path: str) -> dict[Any, str]:
        with translate(self.label):
            try:
                result = obstore.get(self.store, path, options={"head": True})
            except (FileNotFoundError, NotFoundError):
                return {}
            return dict(result.attributes)

    def rows_for(self, keys: Sequence[str], columns: set[str]) -> dict[str, Row]:
        """The objects among ``keys`` that exist, found by listing the span they cover."""
        wanted = set(keys)
        if not wanted:
            return {}
        low, high = min(wanted), max(wanted)
        found: dict[str, Row] = {}
        for meta in self.objects(low[:-1] or None):
            if meta["path"] > high:
                break
            if meta["path"] in wanted:
                found[meta["path"]] = self._row(meta, columns)
        return found

    # -- deleting ------------------------------------------------------------------------

    def remove(self, keys: Sequence[str]) -> dict[str, str]:
        """DeleteObjects (1,000 keys a request) on S3, batched requests elsewhere.

        A request that reports errors is reconciled by listing: the keys still present are
        the failures, each with the error the store gave (the first one it names).
        """
        failed: dict[str, str] = {}
        for chunk in chunked(sorted(keys), DELETE_CHUNK):
            try:
                obstore.delete(self.store, chunk)
            except Exception as exc:
                message = _first_line(exc)
                for key in sorted(self.rows_for(chunk, set())):
                    named = f"for key {key}: " in message
                    failed[key] = message if named else f"not deleted ({message})"
        return failed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
