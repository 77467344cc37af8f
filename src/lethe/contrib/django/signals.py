"""The ``lethe`` signal: one per batch lethe committed, for apps that must react.

``batch_committed`` is sent after each batch of a run commits. Its ``sender`` is the model
whose table the dataset deletes from (a dataset by model, or a table dataset naming a model's
``db_table``), else the dataset's name; the keyword arguments are ``dataset``, ``policy``,
``action`` (the phase's type: ``purge``, ``soft_delete``, ``update``…), ``event`` (its audit
event), ``keys`` (the items' primary keys, in their own type), ``cascade`` (rows per table
removed or updated with them), ``run_id`` and ``batch_id``::

    from django.dispatch import receiver
    from lethe.contrib.django.signals import batch_committed

    @receiver(batch_committed, sender=Survey)
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

from django.apps import apps
from django.db.models import Model
from django.dispatch import Signal

from lethe.engine.hooks import CommittedBatch

__all__ = ["batch_committed", "model_of", "send_batch_committed"]

log = logging.getLogger("lethe.django")

batch_committed = Signal()


def model_of(table: str | None) -> type[Model] | None:
    """The concrete model stored in ``table`` (None: no model, or several share it)."""
    if table is None:
        return None
    found = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.db_table == table and not m._meta.proxy
    ]
    return found[0] if len(found) == 1 else None


def send_batch_committed(batch: CommittedBatch) -> None:
    """The batch listener the app registers (:mod:`lethe.engine.hooks`)."""
    responses = batch_committed.send_robust(
        sender=model_of(batch.table) or batch.dataset,
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
