"""The garbage collector during a run: the objects alive when it starts are left out of its
full collections.

A run allocates enough (reflected tables, compiled statements, a batch's rows and events) to
set off CPython's full collections, and each one walks every object the process holds — the
configuration, SQLAlchemy, pydantic, the drivers: ~60 ms a pass in a ``lethe run`` process,
a quarter of a run of 1,000 items. Frozen (:func:`gc.freeze`) for the run's length, those
objects are not walked; the run's own garbage is still collected as before, and at the end
they are handed back to the collector (:func:`gc.unfreeze`), so a process that runs lethe
again and again (the scheduler, an application calling :meth:`lethe.Lethe.run`) keeps
collecting what it drops.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["run_objects_only"]


@contextmanager
def run_objects_only() -> Iterator[None]:
    """Leave the objects alive now out of the collector's passes until the block ends
    (nested or concurrent blocks: the outermost one unfreezes)."""
    global _depth
    with _lock:
        if _depth == 0:
            gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()


_depth = 0
_lock = threading.Lock()
