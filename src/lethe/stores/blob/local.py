"""A ``file://`` blob dataset read with ``os.scandir``: the local fast path.

Listing a directory through obstore costs ~10 µs per file before lethe has judged anything
(a Python dict per object, a datetime, an e-tag string); ``find -delete`` spends ~4 µs on the
whole of its work per file. This dataset walks the tree itself, compares each file's
``st_mtime_ns`` with the bounds the condition puts on ``last_modified`` (an integer
comparison), and builds a row, then judges it with the same :class:`~lethe.stores.listed.Judge`
as every listed store, only for the files those bounds let through. Deletion is ``os.unlink``.

It lists exactly what obstore's ``LocalStore`` lists, with the same columns, so that both
judge the same files due, held or unreadable (``tests/test_blob_local.py`` checks it against
:class:`~lethe.stores.blob.dataset.BlobDataset` on generated trees):

- symbolic links are followed (a link to a file is an object with its target's size and
  time, a link to a directory is walked, a broken link is passed over), and so are FIFOs and
  other non-directories listed as objects;
- a file named like an unfinished upload (``name#3``: only digits after the first ``#``) is
  passed over;
- a name with a control character, or bytes that are not UTF-8, fails the listing (obstore
  cannot name it as an object either), as does a directory link back to one of its ancestors
  (obstore fails too, ~40 levels down);
- ``metadata.NAME`` columns are always empty (a local directory keeps no user metadata), read
  without opening the file (obstore's HEAD opens it, which blocks on a FIFO);
- deleting a directory's last file removes the directories it leaves empty, up to the store's
  root (obstore's ``automatic_cleanup``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from lethe.config.datasets import DatasetConfig
from lethe.errors import StoreError
from lethe.model.conditions import After, All, Before, Condition
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import Item
from lethe.stores.blob.dataset import METADATA, BlobDataset
from lethe.stores.blob.errors import translate
from lethe.stores.listed import Judge, Row

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ObjectStore

__all__ = ["LocalDataset", "bounds_decide", "mtime_bounds"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Wider than any file time (2**80 ns is 38 million years).
_UNBOUNDED = 1 << 80
#: Characters that make a name worth a closer look: controls, unpaired surrogates (bytes that
#: are not UTF-8, as ``os.fsdecode`` gives them) and ``#`` (an unfinished upload's suffix).
_ODD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff#]")
_INVALID = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: obstore passes over a file whose name after its first ``#`` is all ASCII digits.
_STAGED = re.compile(r"[^#]*#[0-9]+")

_Level = list[tuple[str, os.stat_result]]


def _conjuncts(condition: Condition) -> Iterator[Condition]:
    if isinstance(condition, All):
        for part in condition.parts:
            yield from _conjuncts(part)
    else:
        yield condition


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def mtime_bounds(condition: Condition, column: str = "last_modified") -> tuple[int, int]:
    """``(low, high)``: a file can be selected only if ``low <= st_mtime_ns < high``.

    Only comparisons of ``column`` that every selected row must pass (the condition's
    top-level conjuncts) bound it; a file's ``last_modified`` is its mtime truncated to the
    microsecond, as obstore gives it, so the bounds are exact: a file outside them is not
    selected, one inside is judged in full.
    """
    low, high = -_UNBOUNDED, _UNBOUNDED
    for part in _conjuncts(condition):
        if not isinstance(part, Before | After) or part.column != column:
            continue
        if part.instant.tzinfo is None:
            continue  # the predicate would refuse to compare it; let it say so
        us = _micros(part.instant)
        if isinstance(part, Before):
            high = min(high, (us + 1) * 1000 if part.inclusive else us * 1000)
        else:
            low = max(low, us * 1000 if part.inclusive else (us + 1) * 1000)
    return low, high


def bounds_decide(condition: Condition, column: str = "last_modified") -> bool:
    """Whether :func:`mtime_bounds` is the whole of ``condition``: every top-level conjunct a
    comparison of ``column`` with an aware instant, so that a file inside the bounds is
    selected without building its row or judging it."""
    return all(
        isinstance(part, Before | After)
        and part.column == column
        and part.instant.tzinfo is not None
        for part in _conjuncts(condition)
    )


def _meta(key: str, st: os.stat_result) -> ObjectMeta:
    """The object obstore's LocalStore lists for a file: the same time, size and e-tag."""
    ns = st.st_mtime_ns
    micros = ns // 1000
    # obstore: inode, microseconds since the epoch (0 before it) and size, in hex, quoted
    e_tag = f'"{st.st_ino:x}-{max(micros, 0):x}-{st.st_size:x}"'
    meta: Any = {
        "path": key,
        "last_modified": _EPOCH + timedelta(microseconds=micros),
        "size": st.st_size,
        "e_tag": e_tag,
        "version": None,
    }
    return meta  # type: ignore[no-any-return]


class LocalDataset(BlobDataset):
    """The files under a ``file://`` dataset's prefixes, walked with ``os.scandir``."""

    def __init__(
        self, name: str, config: DatasetConfig, store: ObjectStore, root: str, label: str
    ) -> None:
        super().__init__(name, config, store, True, label)
        self.root = root.rstrip("/") or "/"

    # -- listing -------------------------------------------------------------------------

    def _files(
        self, after: str | None, low: int = -_UNBOUNDED, high: int = _UNBOUNDED
    ) -> Iterator[tuple[str, os.stat_result]]:
        """``(key, stat)`` of every file after ``after`` whose mtime is in ``[low, high)``."""
        for prefix in self.prefixes:
            if after is not None and after > prefix and not after.startswith(prefix):
                continue  # every key under this prefix sorts before ``after``
            with translate(self.label):
                self._check_name(prefix.rstrip("/"), prefix)
                yield from self._descend(prefix, after, low, high, frozenset())

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _check_name(self, name: str, key: str) -> bool:
        """False for an unfinished upload's name; raises for a name obstore cannot list."""
        for segment in name.split("/"):
            if segment in ("", ".", "..") or _INVALID.search(segment):
                raise StoreError(
                    f"{self.label}: cannot list {key!r}: not a valid object path "
                    "(an empty, . or .. segment, a control character, or not UTF-8)"
                )
        return not _STAGED.fullmatch(name.rpartition("/")[2])

    def _level(self, prefix: str, low: int, high: int) -> _Level:
        """One directory's subdirectories and the files whose mtime is in ``[low, high)``,
        sorted, each with its ``stat`` (links followed).

        The directory is opened once and its entries are stat'ed relative to it (``fstatat``),
        which spares the kernel resolving the whole path again for every file; a file outside
        the bounds is dropped here, before it costs a sort or a key.
        """
        try:
            fd = os.open(self._path(prefix), os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            return []  # a prefix nothing is under (obstore lists nothing either)
        level: _Level = []
        try:
            with os.scandir(fd) as listing:
                entries = list(listing)
            # One search over the directory's names (``/`` is in none) finds whether any needs
            # a closer look; almost never, and then an entry costs its stat and two compares.
            if _ODD.search("/".join([entry.name for entry in entries])):
                entries = self._plain(entries, prefix)
            for entry in entries:
                try:
                    st = entry.stat()  # relative to ``fd``: it stays open until here
                except FileNotFoundError:
                    continue  # a broken link, or an entry deleted since it was read
                if low <= st.st_mtime_ns < high:
                    level.append((entry.name + "/" if entry.is_dir() else entry.name, st))
                elif entry.is_dir():
                    level.append((entry.name + "/", st))
        finally:
            os.close(fd)
        level.sort(key=itemgetter(0))
        return level

    def _plain(self, entries: list[os.DirEntry[str]], prefix: str) -> list[os.DirEntry[str]]:
        """``entries`` less unfinished uploads' files; raises for a name obstore cannot list."""
        kept = []
        for entry in entries:
            name = entry.name
            # an unfinished upload's name is passed over for a file only
            if (
                _ODD.search(name)
                and not self._check_name(name, prefix + name)
                and not entry.is_dir()
            ):
                continue
            kept.append(entry)
        return kept

    def _descend(
        self, prefix: str, after: str | None, low: int, high: int, above: frozenset[tuple[int, int]]
    ) -> Iterator[tuple[str, os.stat_result]]:
        # Names in one directory share its prefix, so sorting them (a directory with its
        # trailing /) sorts their keys: the walk is in key order, as the cursor needs.
        for name, st in self._level(prefix, low, high):
            key = prefix + name
            if name[-1] == "/":
                if after is None or after < key or after.startswith(key):
                    here = (st.st_dev, st.st_ino)
                    if here in above:
                        raise StoreError(
                            f"{self.label}: cannot list {key!r}: a link to a directory it is in"
                        )
                    yield from self._descend(key, after, low, high, above | {here})
            elif after is None or key > after:
                yield key, st

    def _row(self, meta: ObjectMeta, columns: set[str]) -> Row:
        """The listed columns; ``metadata.NAME`` is always empty, without the HEAD request:
        a local directory keeps no user metadata (obstore refuses to write it), and opening a
        FIFO to read it would block."""
        row: Row = {
            "key": meta["path"],
            "last_modified": meta["last_modified"],
            "size": meta["size"],
            "e_tag": meta["e_tag"],
        }
        for column in columns:
            if column.startswith(METADATA):
                row[column] = None
        return row

    def objects(self, after: str | None) -> Iterator[ObjectMeta]:
        for key, st in self._files(after):
            yield _meta(key, st)

    def rows(self, columns: set[str], after: str | None) -> Iterator[tuple[str, Row]]:
        for key, st in self._files(after):
            yield key, self._row(_meta(key, st), columns)

    def judged(self, condition: Condition, after: ItemKey | None) -> Iterator[Item]:
        """Selected (and unreadable) files after ``after``: a file whose mtime is outside the
        condition's bounds is passed over on its ``stat`` alone."""
        start = None if after is None else key_text(after)
        low, high = mtime_bounds(condition)
        if bounds_decide(condition):
            # The bounds are the condition: a file inside them is selected on its stat alone.
            for key, _ in self._files(start, low, high):
                yield Item(key)
            return
        verdict_of = Judge(condition)
        columns = set(verdict_of.columns)
        for key, st in self._files(start, low, high):
            verdict = verdict_of(self._row(_meta(key, st), columns))
            if verdict is not False:
                yield Item(key, unreadable=verdict is None)

    def table_sizes(self) -> dict[str, int]:
        return {self.table: sum(1 for _ in self._files(None))}

    def rows_for(self, keys: Sequence[str], columns: set[str]) -> dict[str, Row]:
        """The files among ``keys`` that the listing would show, each read with one ``stat``."""
        found: dict[str, Row] = {}
        for key in set(keys):
            st = self._listed(key)
            if st is not None:
                found[key] = self._row(_meta(key, st), columns)
        return found

    def _listed(self, key: str) -> os.stat_result | None:
        """``key``'s stat if the listing would show it as an object, else None."""
        if not any(key.startswith(p) for p in self.prefixes) or key.endswith("/"):
            return None
        try:
            if not self._check_name(key, key):
                return None
        except StoreError:
            return None  # no listing shows such a key
        with translate(self.label):
            try:
                st = os.stat(self._path(key))
            except (FileNotFoundError, NotADirectoryError):
                return None
        return None if _is_dir(st) else st

    # -- deleting ------------------------------------------------------------------------

    def remove(self, keys: Sequence[str]) -> dict[str, str]:
        """``os.unlink`` each file, then remove the directories that leaves empty (up to the
        store's root, as obstore does); a file already gone is not a failure."""
        failed: dict[str, str] = {}
        emptied: set[str] = set()
        for key in sorted(set(keys)):
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed[key] = f"for key {key}: {exc.strerror or type(exc).__name__}"
                continue
            emptied.add(key.rpartition("/")[0])
        # Deepest first, so that a parent is tried after its children.
        for folder in sorted(emptied, key=lambda f: f.count("/"), reverse=True):
            while folder:
                try:
                    os.rmdir(self._path(folder))
                except OSError:
                    break  # not empty (the usual case), or not ours to remove
                folder = folder.rpartition("/")[0]
        return failed


def _is_dir(st: os.stat_result) -> bool:
    return (st.st_mode & 0o170000) == 0o040000
