"""The ``batch_committed`` signal: one per committed batch; Django's delete signals stay
silent for lethe's set-based deletions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.django_app.shop import AS_OF, POLICY, Shop

BATCHES_OF_TWO = POLICY.format(state="sqlite:///state.db", store="django://default").replace(
    "[policies.closed-accounts]",
    "[limits]\nbatch_size = 2\nbatch_seconds = 0\n\n[policies.closed-accounts]",
)


def _many_closed(shop: Shop, count: int) -> None:
    result = shop.script(
        "from datetime import datetime, UTC\n"
        "from shop.models import Customer, Order\n"
        f"for i in range(1, {count + 1}):\n"
        "    c = Customer.objects.create(id=i, name=f'c{i}', email=f'c{i}@example.com',"
        " closed_at=datetime(2024, 1, 1, tzinfo=UTC))\n"
        "    Order.objects.create(customer=c, total=i)\n"
        "Customer.objects.create(id=100, name='open', email='open@example.com')\n"
    )
    assert result.code == 0, result.err


def _log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_signal_per_committed_batch_with_its_keys(shop: Shop) -> None:
    _many_closed(shop, 5)
    log = shop.root / "signals.jsonl"
    shop.env["SHOP_SIGNAL_LOG"] = str(log)
    shop.policy(BATCHES_OF_TWO)
    assert shop.manage("lethe", "run", "--dry-run", "--as-of", AS_OF).code == 0
    assert _log(log) == []  # a dry run commits nothing
    run = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0, run.err
    entries = _log(log)
    batches = [e for e in entries if e["signal"] == "batch_committed"]
    assert [b["keys"] for b in batches] == [[1, 2], [3, 4], [5]]
    assert {(b["sender"], b["dataset"], b["policy"], b["action"], b["event"]) for b in batches} == {
        ("Customer", "customers", "closed-accounts", "purge", "hard_deleted")
    }
    assert [b["cascade"] for b in batches] == [
        {"shop_order": 2},
        {"shop_order": 2},
        {"shop_order": 1},
    ]
    assert len({b["batch_id"] for b in batches}) == 3
    assert len({b["run_id"] for b in batches}) == 1
    assert {tuple(e["key_types"]) for e in entries if e["signal"] == "any"} == {("int",)}
    # Django's per-object signals are sent by Model.delete() and QuerySet.delete() only.
    assert not [e for e in entries if e["signal"] in ("pre_delete", "post_delete")]
    assert shop.rows("shop_customer", "id") == [(100,)]


def test_the_oracle_django_delete_does_send_pre_delete(shop: Shop) -> None:
    """The receivers above work: Django's own delete sends what lethe's does not."""
    _many_closed(shop, 1)
    log = shop.root / "signals.jsonl"
    shop.env["SHOP_SIGNAL_LOG"] = str(log)
    shop.script("from shop.models import Customer\nCustomer.objects.get(id=1).delete()\n")
    assert {(e["signal"], e["model"]) for e in _log(log)} >= {
        ("pre_delete", "Customer"),
        ("pre_delete", "Order"),
        ("post_delete", "Customer"),
    }


def test_a_receiver_that_raises_is_logged_and_the_run_goes_on(shop: Shop) -> None:
    _many_closed(shop, 3)
    log = shop.root / "signals.jsonl"
    shop.env.update(SHOP_SIGNAL_LOG=str(log), SHOP_SIGNAL_RAISE="1")
    shop.policy(BATCHES_OF_TWO)
    run = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0
    assert "Hard deleted: 3 customers" in run.out
    assert run.err.count("customers_removed of lethe's batch_committed failed") == 2
    assert "RuntimeError: a receiver that fails" in run.err
    # the other receiver still ran for both batches
    assert len([e for e in _log(log) if e["signal"] == "any"]) == 2
    assert shop.rows("shop_customer", "id") == [(100,)]
