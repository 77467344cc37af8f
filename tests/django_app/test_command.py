"""``python manage.py lethe``: lethe's CLI inside a Django project, with stores and state on
the project's ``DATABASES`` aliases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.django_app.shop import AS_OF, POLICY, Shop

DJANGO = POLICY.format(state="sqlite:///state.db", store="django://default")


def _plain(shop: Shop) -> str:
    """The same policy naming the database by URL, for the plain ``lethe`` CLI."""
    return POLICY.format(state="sqlite:///plain-state.db", store=shop.url)


def test_manage_py_lethe_runs_the_policy_of_settings_lethe_config(shop: Shop) -> None:
    shop.seed_with_django()
    shop.policy(DJANGO)
    assert shop.manage("lethe", "check").code == 0
    run = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert "Hard deleted: 1 customers (with 2 shop_order)" in run.out
    assert [r[0] for r in shop.rows("shop_customer")] == [2, 3]
    assert shop.rows("shop_order", "customer_id") == [(2,)]
    assert (shop.root / "state.db").exists()  # relative to the policy file, as with lethe


CLI_ARGVS = [
    ("plan", "--as-of", AS_OF),
    ("explain", "customers", "1", "--as-of", AS_OF),
    ("hold", "list"),
    ("check",),
]


def test_output_and_exit_code_are_the_lethe_clis(shop: Shop) -> None:
    shop.seed()
    plain_policy = _plain(shop)
    for argv in CLI_ARGVS:
        shop.policy(plain_policy, "plain.toml")
        plain = shop.lethe("--config", "plain.toml", *argv)
        shop.policy(DJANGO)
        django = shop.manage("lethe", *argv)
        assert (django.code, django.err) == (plain.code, plain.err), argv
        assert _without_urls(django.out) == _without_urls(plain.out), argv


def _without_urls(text: str) -> str:
    return re.sub(r"(sqlite|postgresql)\S*", "URL", text)


@pytest.mark.parametrize(
    ("argv", "code"),
    [(("runs", "show", "run-nope"), 6), (("nosuch",), 2), (("run", "--bogus"), 2)],
)
def test_errors_exit_with_lethes_codes(shop: Shop, argv: tuple[str, ...], code: int) -> None:
    shop.policy(DJANGO)
    result = shop.manage("lethe", *argv)
    assert result.code == code
    assert "Traceback" not in result.err


def test_a_config_option_on_the_command_line_wins_over_the_setting(shop: Shop) -> None:
    shop.seed()
    shop.policy(DJANGO.replace('retain = "30d"', 'retain = "3650d"'), "other.toml")
    shop.policy(DJANGO)  # settings.LETHE_CONFIG
    other = shop.manage("lethe", "--config", "other.toml", "plan", "--json", "--as-of", AS_OF)
    assert json.loads(other.out)["phases"][0]["keys"] == []
    own = shop.manage("lethe", "plan", "--json", "--as-of", AS_OF)
    assert json.loads(own.out)["phases"][0]["keys"] == ["1"]


def test_djangos_own_options_are_not_passed_to_lethe(shop: Shop) -> None:
    shop.policy(DJANGO)
    result = shop.manage("lethe", "--settings=shopsite.settings", "check")
    assert result.code == 0, result.err


def test_call_command_carries_lethes_exit_code(shop: Shop) -> None:
    shop.policy(DJANGO)
    result = shop.script(
        "from django.core.management import CommandError, call_command\n"
        "try:\n    call_command('lethe', 'runs', 'show', 'run-nope')\n"
        "except CommandError as exc:\n    print('returncode', exc.returncode)\n"
        "call_command('lethe', 'plan', '--as-of', '2024-10-26T02:00:00Z')\n"
    )
    assert "returncode 6" in result.out
    assert "Plan at 2024-10-26 02:00:00 UTC" in result.out


def test_an_unknown_alias_is_one_line_exit_2_and_touches_nothing(shop: Shop) -> None:
    shop.seed()
    shop.policy(DJANGO.replace("django://default", "django://replica"))
    result = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "lethe: error: lethe.toml: stores.default.url: no Django database alias 'replica' "
        "(DATABASES has: default)"
    ]
    assert len(shop.rows("shop_customer")) == 3


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("django://default/x", "names a Django database alias only"),
        ("django://user@default", "names a Django database alias only"),
    ],
)
def test_a_malformed_alias_url_is_refused(shop: Shop, url: str, says: str) -> None:
    shop.policy(DJANGO.replace("django://default", url))
    result = shop.manage("lethe", "plan")
    assert result.code == 2
    assert says in result.err and "Traceback" not in result.err


def test_the_plain_cli_says_where_django_urls_are_resolved(shop: Shop) -> None:
    shop.policy(DJANGO)
    result = shop.lethe("--config", "lethe.toml", "plan")
    assert result.code == 2
    assert "python manage.py lethe" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_state_in_the_same_sqlite_file_as_a_store_audits_in_its_transaction(shop: Shop) -> None:
    """The state in the project's own SQLite file: each batch writes its audit in the
    store's transaction, so nothing waits on the file's write lock (this was refused once:
    the intent's separate write waited on the batch's lock, "database is locked")."""
    shop.seed()
    shop.policy(POLICY.format(state="django://default", store="django://default"))
    result = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert result.code == 0, result.err
    assert [r[0] for r in shop.rows("shop_customer")] == [2, 3]
    assert shop.rows("lethe_events WHERE event = 'hard_deleted'", "item_key") == [("1",)]
    assert shop.rows("lethe_batches") == []  # one commit per batch: no intent recorded
    assert shop.manage("lethe", "audit", "verify").code == 0


def test_a_setting_that_is_not_a_path_is_one_line_exit_2(shop: Shop) -> None:
    result = shop.manage("lethe", "plan", env={"SHOP_LETHE_CONFIG_BAD": "1"})
    assert result.code == 2
    assert result.err.strip() == (
        "lethe: error: settings.LETHE_CONFIG: must be a path (str or Path), not int"
    )


def test_postgres_store_and_state_in_the_default_database_without_the_password(
    pg_shop: Shop,
) -> None:
    pg_shop.seed()
    pg_shop.policy(POLICY.format(state="django://default", store="django://default"))
    password = pg_shop.env["SHOP_PG_PASSWORD"]
    outputs = [
        pg_shop.manage("lethe", "check"),
        pg_shop.manage("lethe", "run", "--as-of", AS_OF),
        pg_shop.manage("lethe", "runs", "--json"),
        pg_shop.manage("lethe", "audit", "verify"),
    ]
    assert [o.code for o in outputs] == [0, 0, 0, 0], [o.err for o in outputs]
    assert pg_shop.rows("shop_customer", "id") == [(2,), (3,)]
    assert pg_shop.rows("lethe_runs")  # lethe's state lives in the Django database
    for output in outputs:
        assert password not in output.out + output.err
    assert "Sh0p" not in (pg_shop.root / "lethe.toml").read_text()


BY_MODEL = """
[stores.default]
url = "django://default"

[datasets.customers]
model = "shop.Customer"
age_column = "closed_at"
retain = "30d"

[policies.closed-accounts]
dataset = "customers"

[[policies.closed-accounts.actions]]
type = "purge"
"""


def test_a_dataset_by_model_runs_through_manage_py_with_djangos_cascade(shop: Shop) -> None:
    shop.seed()
    shop.policy(BY_MODEL)
    check = shop.manage("lethe", "check")
    assert check.code == 0, check.err
    assert "shop_order.customer_id → shop_customer" in check.out
    assert "cascade (shop.Order.customer CASCADE)" in check.out
    run = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert "Hard deleted: 1 customers (with 2 shop_order)" in run.out
    assert shop.rows("shop_customer", "id") == [(2,), (3,)]
    assert shop.rows("shop_order", "customer_id") == [(2,)]
    shop.policy(BY_MODEL.replace("shop.Customer", "shop.Client"))
    wrong = shop.manage("lethe", "plan")
    assert wrong.code == 2
    assert "app 'shop' has no model 'Client'" in wrong.err


def test_manage_py_help_lethe_is_lethes_help(shop: Shop) -> None:
    helped = shop.manage("help", "lethe")
    assert helped.code == 0
    assert "Usage: manage.py lethe [OPTIONS] COMMAND" in helped.out
    assert helped.out == shop.manage("lethe", "--help").out


def test_a_backend_lethe_has_no_driver_for_is_one_line_exit_2(pg_shop: Shop) -> None:
    pg_shop.policy(DJANGO)
    pg_shop.env["SHOP_PG_ENGINE"] = "django.db.backends.dummy"
    refused = pg_shop.manage("lethe", "plan")
    assert refused.code == 2
    assert refused.err.strip().splitlines() == [
        "lethe: error: lethe.toml: stores.default.url: Django database 'default' uses "
        "'django.db.backends.dummy'; lethe reads SQLite, PostgreSQL, MariaDB and MySQL databases"
    ]


def test_the_first_policy_of_docs_django_md_runs_as_written(shop: Shop) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "django.md").read_text()
    first = docs[docs.index("## A first policy") :]
    block = re.search(r"```toml\n(.*?)```", first, re.S)
    assert block is not None
    shop.seed()
    shop.policy(block[1])
    check = shop.manage("lethe", "check")
    assert check.code == 0, check.err
    run = shop.manage("lethe", "run", "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert "Hard deleted: 1 customers (with 2 shop_order)" in run.out
    assert (shop.root / ".lethe" / "state.db").exists()  # the default state, its own file
    assert shop.manage("lethe", "audit", "verify").code == 0


def test_a_policy_without_stores_uses_the_projects_databases(shop: Shop) -> None:
    """No [stores]: the one store is DATABASES["default"]; a store table without url is the
    alias of its name; an alias Django lacks is one line, exit 2."""
    shop.policy(BY_MODEL)
    plan = shop.manage("lethe", "plan", "--as-of", AS_OF)
    assert plan.code == 0, plan.err
    assert "closed-accounts" in plan.out
    no_stores = BY_MODEL.replace('[stores.default]\nurl = "django://default"\n', "")
    assert "[stores" not in no_stores
    shop.policy(no_stores)
    bare = shop.manage("lethe", "plan", "--as-of", AS_OF)
    assert (bare.code, bare.out) == (0, plan.out)
    shop.policy(BY_MODEL.replace('url = "django://default"\n', ""))
    named = shop.manage("lethe", "plan", "--as-of", AS_OF)
    assert (named.code, named.out) == (0, plan.out)
    shop.policy(BY_MODEL.replace('[stores.default]\nurl = "django://default"', "[stores.replica]"))
    unknown = shop.manage("lethe", "plan")
    assert unknown.code == 2
    assert "replica" in unknown.err and len(unknown.err.strip().splitlines()) == 1
