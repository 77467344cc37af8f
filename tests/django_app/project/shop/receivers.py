"""Receivers the tests read back: lethe's batch signal, and Django's pre/post_delete (which
lethe's deletions do not send). Each writes one JSON line to ``SHOP_SIGNAL_LOG``."""

import json
import os
from typing import Any

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from lethe.contrib.django.signals import batch_committed
from shop.models import Customer


def _log(entry: dict[str, Any]) -> None:
    path = os.environ.get("SHOP_SIGNAL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, default=str) + "\n")


@receiver(batch_committed, sender=Customer)
def customers_removed(sender: type, keys: tuple[Any, ...], **kwargs: Any) -> None:
    if os.environ.get("SHOP_SIGNAL_RAISE"):
        raise RuntimeError("a receiver that fails")
    _log({**kwargs, "signal": "batch_committed", "sender": sender.__name__, "keys": list(keys)})


@receiver(batch_committed)
def any_batch(sender: str, keys: tuple[Any, ...], **kwargs: Any) -> None:
    _log({"signal": "any", "sender": sender, "key_types": sorted({type(k).__name__ for k in keys})})


@receiver(pre_delete)
def before_delete(sender: type, instance: Any, **kwargs: Any) -> None:
    _log({"signal": "pre_delete", "model": sender.__name__, "pk": instance.pk})


@receiver(post_delete)
def after_delete(sender: type, instance: Any, **kwargs: Any) -> None:
    _log({"signal": "post_delete", "model": sender.__name__, "pk": instance.pk})
