"""lethe's holds and runs in the Django admin, driven with Django's test client logged in as
a superuser; the results read back through lethe's own CLI and audit chain."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.django_app.shop import AS_OF, POLICY, Shop

STATE_IN_DJANGO = POLICY.format(state="django://lethe", store="django://default")

LOGIN = (
    "import json, re\n"
    "from django.contrib.auth.models import User\n"
    "from django.test import Client\n"
    "if not User.objects.filter(username='dpo').exists():\n"
    "    User.objects.create_superuser('dpo', 'dpo@example.com', 'pw-for-tests-only')\n"
    "c = Client()\n"
    "assert c.login(username='dpo', password='pw-for-tests-only')\n"
    "out = {}\n"
    "def page(name, r):\n"
    "    out[name] = {'status': r.status_code, 'location': r.get('Location'),"
    " 'text': r.content.decode()}\n"
)


def _admin(shop: Shop, steps: str) -> dict[str, Any]:
    result = shop.script(LOGIN + steps + "print('RESULT', json.dumps(out))\n")
    assert result.code == 0, result.err
    line = next(x for x in result.out.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


@pytest.fixture
def admin_shop(shop: Shop) -> Shop:
    shop.seed()
    shop.env["SHOP_STATE_DB"] = str(shop.root / "lethe-state.db")
    shop.policy(STATE_IN_DJANGO)
    return shop


def test_a_hold_placed_in_the_admin_is_lethes_own_and_audited(admin_shop: Shop) -> None:
    pages = _admin(
        admin_shop,
        "page('form', c.get('/admin/lethe/hold/add/'))\n"
        "page('add', c.post('/admin/lethe/hold/add/', {'dataset': 'customers',"
        " 'item_key': '1', 'reason': 'litigation 2024-17'}))\n"
        "page('list', c.get('/admin/lethe/hold/'))\n",
    )
    assert pages["form"]["status"] == 200
    assert '<option value="customers">' in pages["form"]["text"]
    assert pages["add"]["status"] == 302, pages["add"]["text"][-2000:]
    assert "litigation 2024-17" in pages["list"]["text"]
    listed = admin_shop.manage("lethe", "hold", "list", "--json")
    holds = json.loads(listed.out)
    assert [(h["dataset"], h["key"], h["placedBy"]) for h in holds] == [
        ("customers", "1", "dpo (Django admin)")
    ]
    assert admin_shop.manage("lethe", "audit", "verify").code == 0
    run = admin_shop.manage("lethe", "run", "closed-accounts", "--as-of", AS_OF)
    assert "Skipped, under hold: 1 customers" in run.out
    assert admin_shop.rows("shop_customer", "id") == [(1,), (2,), (3,)]


def test_releasing_in_the_admin_keeps_the_history_and_lets_the_item_go(admin_shop: Shop) -> None:
    admin_shop.manage("lethe", "hold", "add", "customers", "1", "--reason", "legal")
    pages = _admin(
        admin_shop,
        "hold = c.get('/admin/lethe/hold/')\n"
        "hid = re.search(r'/admin/lethe/hold/(\\d+)/change/', hold.content.decode()).group(1)\n"
        "page('no_reason', c.post(f'/admin/lethe/hold/{hid}/change/', {'release': 'on'}))\n"
        "page('release', c.post(f'/admin/lethe/hold/{hid}/change/',"
        " {'release': 'on', 'why': 'case closed'}))\n"
        "page('released', c.get('/admin/lethe/hold/?status=released'))\n"
        "page('active', c.get('/admin/lethe/hold/?status=active'))\n"
        "page('delete', c.post(f'/admin/lethe/hold/{hid}/delete/', {'post': 'yes'}))\n",
    )
    assert pages["no_reason"]["status"] == 200  # the form again, with its error
    assert "Say why the hold is released." in pages["no_reason"]["text"]
    assert pages["release"]["status"] == 302
    assert "legal" in pages["released"]["text"]
    assert "legal" not in pages["active"]["text"]
    assert pages["delete"]["status"] == 403  # holds are never deleted
    holds = json.loads(admin_shop.manage("lethe", "hold", "list", "--all", "--json").out)
    assert [(h["releasedBy"], h["releaseReason"]) for h in holds] == [
        ("dpo (Django admin)", "case closed")
    ]
    admin_shop.manage("lethe", "run", "closed-accounts", "--as-of", AS_OF)
    assert admin_shop.rows("shop_customer", "id") == [(2,), (3,)]


def test_a_bad_key_or_dataset_is_a_form_error_and_places_nothing(admin_shop: Shop) -> None:
    pages = _admin(
        admin_shop,
        "page('key', c.post('/admin/lethe/hold/add/', {'dataset': 'customers',"
        " 'item_key': 'not-a-number', 'reason': 'x'}))\n"
        "page('dataset', c.post('/admin/lethe/hold/add/', {'dataset': 'nosuch',"
        " 'item_key': '1', 'reason': 'x'}))\n",
    )
    assert pages["key"]["status"] == 200 and "errorlist" in pages["key"]["text"]
    assert pages["dataset"]["status"] == 200 and "Select a valid choice" in pages["dataset"]["text"]
    assert json.loads(admin_shop.manage("lethe", "hold", "list", "--all", "--json").out) == []


def test_runs_are_read_only_with_their_counts_and_errors(admin_shop: Shop) -> None:
    with create_engine(admin_shop.url).begin() as conn:  # the database refuses one deletion
        conn.execute(
            text(
                "CREATE TRIGGER keep_ada BEFORE DELETE ON shop_customer WHEN old.id = 1 "
                "BEGIN SELECT RAISE(ABORT, 'Ada is kept by a trigger'); END"
            )
        )
    admin_shop.script(
        "from datetime import datetime, UTC\nfrom shop.models import Customer, Order\n"
        "c = Customer.objects.create(id=4, name='Di', email='di@example.com',"
        " closed_at=datetime(2024, 1, 2, tzinfo=UTC))\n"
        "Order.objects.create(customer=c, total=1)\nOrder.objects.create(customer=c, total=2)\n"
    )
    run = admin_shop.manage("lethe", "run", "--as-of", AS_OF)
    run_id = next(w for w in run.out.split() if w.startswith("run-"))
    pages = _admin(
        admin_shop,
        f"page('list', c.get('/admin/lethe/run/'))\n"
        f"page('detail', c.get('/admin/lethe/run/{run_id}/change/'))\n"
        "page('add', c.get('/admin/lethe/run/add/'))\n"
        f"page('change', c.post('/admin/lethe/run/{run_id}/change/', {{'status': 'succeeded'}}))\n"
        f"page('delete', c.post('/admin/lethe/run/{run_id}/delete/', {{'post': 'yes'}}))\n",
    )
    assert run_id in pages["list"]["text"]
    detail = pages["detail"]["text"]
    assert pages["detail"]["status"] == 200
    assert "shop_order: 2" in detail  # Di's two orders went with her
    assert "Ada is kept by a trigger" in detail  # the run's error, as it recorded it
    assert (pages["add"]["status"], pages["change"]["status"], pages["delete"]["status"]) == (
        403,
        403,
        403,
    )
    record = json.loads(admin_shop.manage("lethe", "runs", "show", run_id, "--json").out)
    assert record["status"] in detail


def test_state_outside_django_databases_is_said_plainly(shop: Shop) -> None:
    shop.policy(POLICY.format(state="sqlite:///state.db", store="django://default"))
    pages = _admin(shop, "page('list', c.get('/admin/lethe/hold/'))\n")
    assert pages["list"]["status"] == 503
    assert "lethe's state is not in a Django database" in pages["list"]["text"]


def test_on_postgresql_the_state_can_share_the_default_database(pg_shop: Shop) -> None:
    pg_shop.seed()
    pg_shop.policy(POLICY.format(state="django://default", store="django://default"))
    run = pg_shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0, run.err
    run_id = next(w for w in run.out.split() if w.startswith("run-"))
    pages = _admin(
        pg_shop,
        "page('add', c.post('/admin/lethe/hold/add/', {'dataset': 'customers',"
        " 'item_key': '2', 'reason': 'audit request'}))\n"
        "page('holds', c.get('/admin/lethe/hold/'))\n"
        "page('runs', c.get('/admin/lethe/run/'))\n"
        f"page('run', c.get('/admin/lethe/run/{run_id}/change/'))\n",
    )
    assert pages["add"]["status"] == 302, pages["add"]["text"][-1500:]
    assert "audit request" in pages["holds"]["text"]
    assert run_id in pages["runs"]["text"]
    assert "shop_order: 2" in pages["run"]["text"]
    holds = json.loads(pg_shop.manage("lethe", "hold", "list", "--json").out)
    assert [(h["key"], h["placedBy"]) for h in holds] == [("2", "dpo (Django admin)")]
