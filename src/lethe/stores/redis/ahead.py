"""Pages of a SCAN judged ahead by a thread while the run audits and deletes the last batch.

A run's batches take their keys from one listing (``ListedDataset._resume``). Judging a page is
a round trip to the server (its script and the next ``SCAN``, pipelined) that the run would
otherwise wait for between its state commits: a reader thread keeps up to ``ahead`` pages of
verdicts ready instead. What it hands out was judged when it was read; the batch's deletion
judges every key again, atomically, in the delete script (:mod:`~lethe.stores.redis.script`),
so a key changed in between is not deleted.

The thread never outlives its listing: it stops when the listing is closed (the generator's
``finally``, :meth:`RedisDataset.close_listing`), when the SCAN is over, and — should a caller
keep a listing without reading it — after ``idle`` seconds with its pages not taken, keeping
its place (a SCAN cursor is the whole state of a scan), so the next read starts a new thread
where it stopped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Ahead"]

P = TypeVar("P")
S = TypeVar("S")

#: What the reader puts after the last page.
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Ahead(Generic[S, P]):
    """Pages read ahead by one thread: ``step(state)`` reads one page and returns it with the
    next state, or None as the state after the last page."""

    def __init__(
        self,
        step: Callable[[S], tuple[P, S | None]],
        start: S,
        *,
        ahead: int,
        idle: float,
        name: str,
    ) -> None:
        self._step = step
        self._state: S | None = start
        self._ahead = ahead
        self._idle = idle
        self._name = name
        self._pages: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._slots = threading.Semaphore(ahead)
        self._closed = threading.Event()
        self._taken = time.monotonic()
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[P]:
        try:
            while True:
                page = self._take()
                if page is _END:
                    return
                if isinstance(page, _Failed):
                    raise page.error
                yield page  # type: ignore[misc]
        finally:
            self.close()

    @property
    def running(self) -> bool:
        """Whether the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the reader and wait for it (at most one page's read)."""
        self._closed.set()
        thread = self._thread
        if thread is not None:
            self._slots.release()  # a reader waiting for room wakes up and sees ``closed``
            thread.join()

    def _take(self) -> object:
        while True:
            if self._thread is None or not self._thread.is_alive():
                try:
                    return self._got(self._pages.get_nowait())
                except queue.Empty:
                    pass
                if self._state is None:
                    return _END
                self._start()  # the first read, or the reader stopped idle: resume
            try:
                return self._got(self._pages.get(timeout=0.5))
            except queue.Empty:
                continue

    def _got(self, page: object) -> object:
        self._taken = time.monotonic()
        self._slots.release()
        return page

    def _start(self) -> None:
        self._taken = time.monotonic()
        self._thread = threading.Thread(target=self._read, name=self._name, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """The reader: one page per free slot, until the end, a failure, closing, or idling."""
        while self._state is not None and not self._closed.is_set():
            if not self._slots.acquire(timeout=0.1):
                if time.monotonic() - self._taken > self._idle:
                    return  # nobody reads: keep the place, end the thread
                continue
            if self._closed.is_set():
                return
            try:
                page, self._state = self._step(self._state)
            except BaseException as exc:  # handed to the reader of the listing
                self._state = None
                self._pages.put(_Failed(exc))  # no slot either
                return
            self._pages.put(page)
        if self._state is None and not self._closed.is_set():
            self._pages.put(_END)  # no slot: a reader never waits to say it is done
