"""The ``lethe`` signal: one per batch lethe committed, for apps that must react.

``batch_committed`` is sent after each batch of a run commits, with the dataset's name as
``sender`` and the keyword arguments ``dataset``, ``policy``, ``action`` (the phase's type:
``purge``, ``soft_delete``, ``update``…), ``event`` (its audit event), ``keys`` (the items'
primary keys, in their own type), ``cascade`` (rows per table removed or updated with them),
``run_id`` and ``batch_id``::

    from django.dispatch import receiver
    from lethe.contrib.django.signals import batch_committed

    @receiver(batch_committed, sender="surveys")
    def forget(sender, keys, action, **kwargs):
        cache.delete_many([f"survey:{k}" for k in keys])

Django's ``pre_delete`` and ``post_delete`` do not fire for lethe's deletions: those are sent
by ``Model.delete()`` and ``QuerySet.delete()`` through Django's ``Collector``, object by
object, and lethe deletes in set-based SQL batches inside its own short transactions (that is
what keeps its locking, audit and speed). A receiver that must see every removed row listens
to ``batch_committed`` instead; it runs after the commit, so it cannot stop a deletion, and
one that raises is logged without affecting the run or the other receivers.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

from lethe.engine.hooks import CommittedBatch

__all__ = ["batch_committed", "send_batch_committed"]

log = logging.getLogger("lethe.django")

batch_committed = Signal()


def send_batch_committed(batch: CommittedBatch) -> None:
    """The batch listener the app registers (:mod:`lethe.engine.hooks`)."""
    responses = batch_committed.send_robust(
        sender=batch.dataset,
        dataset=batch.dataset,
        policy=batch.policy,
        action=batch.action,
        event=batch.event,
        keys=batch.keys,
        cascade=dict(batch.cascade),
        run_id=batch.run_id,
        batch_id=batch.batch_id,
    )
    for receiver, response in responses:
        if isinstance(response, Exception):
            log.error(
                "receiver %s of lethe's batch_committed failed on batch %s: %s: %s",
                getattr(receiver, "__qualname__", repr(receiver)),
                batch.batch_id,
                type(response).__name__,
                response,
            )
