"""Datasets by model: ``model = "app.Model"`` resolves to the model's table, key and columns,
and its cascade is Django's ``on_delete``, read from ``_meta`` (tests/django/oracle)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("django")

from lethe import Lethe
from lethe.errors import ConfigError
from tests.support import django_project


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return django_project.setup(tmp_path_factory.mktemp("django"))


@pytest.fixture
def database(template: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "app.db"
    django_project.use(template, target)
    yield target


def policy(database: Path, dataset: str, tmp: Path) -> str:
    return f"""
[stores.app]
url = "sqlite:///{database}"
[state]
url = "sqlite:///{tmp}/state.db"
runs_dir = ""
[datasets.d]
{dataset}
[policies.p]
dataset = "d"
[[policies.p.actions]]
type = "purge"
"""


def test_a_dataset_by_model_is_its_table_key_and_columns(database: Path, tmp_path: Path) -> None:
    text = policy(
        database,
        'model = "oracle.Restaurant"\ndue_column = "opened_at"\n'
        'where = [{ column = "manager", is_null = false }]',
        tmp_path,
    )
    with Lethe.from_toml(text) as lethe:
        ds = lethe.settings.config.datasets["d"]
    assert (ds.table, ds.key, ds.due_column, ds.model) == (
        "oracle_restaurant",
        "place_ptr_id",
        "opened_at",
        None,
    )
    assert ds.where[0].column == "manager_id"


def test_each_on_delete_becomes_its_treatment(database: Path, tmp_path: Path) -> None:
    text = policy(
        database, 'model = "auth.User"\nage_column = "date_joined"\nretain = "1d"', tmp_path
    )
    with Lethe.from_toml(text) as lethe:
        steps = lethe.settings.config.datasets["d"].cascade
        lines = "\n".join(f.message for f in lethe.check().findings)
    assert isinstance(steps, list)
    treated = {(s.table, s.columns[0]): (s.on_delete, s.value) for s in steps}
    assert treated[("oracle_folder", "owner_id")] == ("cascade", None)
    assert treated[("oracle_note", "author_id")] == ("set_null", None)
    assert treated[("oracle_ticket", "assignee_id")] == ("set_default", 1)
    assert treated[("oracle_ticket", "reviewer_id")] == ("set_default", 1)  # SET(callable)
    assert treated[("oracle_order", "customer_id")] == ("protect", None)
    assert treated[("oracle_invoice", "customer_id")] == ("block", None)
    assert treated[("oracle_trail", "user_id")] == ("block", None)  # DO_NOTHING, constrained
    assert ("oracle_loose", "user_id") not in treated  # DO_NOTHING, no constraint
    assert treated[("oracle_loose", "mirror_id")] == ("cascade", None)  # db_constraint=False
    assert treated[("oracle_team_members", "user_id")] == ("cascade", None)  # auto M2M
    assert treated[("oracle_badge", "holder_id")] == ("cascade", None)  # FK to a proxy
    assert treated[("oracle_place", "id")] == ("cascade", None)  # MTI: child takes parent row
    assert treated[("oracle_folder", "parent_id")] == ("cascade", None)  # ForeignKey("self")
    assert treated[("auditlog_logentry", "actor_id")] == ("set_null", None)
    assert treated[("account_emailaddress", "user_id")] == ("cascade", None)
    assert (
        "oracle_order.customer_id → auth_user (NO ACTION): protect (oracle.Order.customer PROTECT)"
        in lines
    )
    assert "oracle_loose.mirror_id → auth_user (not declared): cascade" in lines


def test_a_generic_relation_is_an_edge_with_its_content_type(
    database: Path, tmp_path: Path
) -> None:
    from django.contrib.contenttypes.models import ContentType

    text = policy(database, 'model = "oracle.Note"\ndue_column = "due_at"', tmp_path)
    with Lethe.from_toml(text) as lethe:
        steps = lethe.settings.config.datasets["d"].cascade
    assert isinstance(steps, list)
    note = ContentType.objects.get(app_label="oracle", model="note").pk
    generic = {s.table: s.when for s in steps if s.when}
    assert generic == {
        "oracle_attachment": {"content_type_id": note},
        "django_comments": {"content_type_id": note},
        # taggit's TaggableManager adds a GenericRelation (tagged_items) to the model.
        "taggit_taggeditem": {"content_type_id": note},
    }


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ('model = "nope.Survey"\ndue_column = "x"', "no installed app 'nope'"),
        ('model = "oracle.Survey"\ndue_column = "x"', "app 'oracle' has no model 'Survey'"),
        ('model = "oracle.Note"\ndue_column = "deadline"', "oracle.Note has no field 'deadline'"),
        (
            'model = "oracle.Note"\ndue_column = "author"',
            "oracle.Note.author is a ForeignKey, not a DateField or DateTimeField",
        ),
        (
            'model = "oracle.Note"\ndue_column = "due_at"\n'
            'holds = { model = "oracle.Order", field = "nope" }',
            "oracle.Order has no field 'nope'",
        ),
        (
            'model = "oracle.Restaurant"\ndue_column = "owner"',
            "stored in oracle_place, the table of its parent model oracle.Place",
        ),
        ('model = "oracle.Note"\ndue_column = "due_at"\nkey = "id"', "not for a dataset by model"),
    ],
)
def test_unknown_names_are_one_line(
    database: Path, tmp_path: Path, dataset: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Lethe.from_toml(policy(database, dataset, tmp_path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert int(caught.value.exit_code) == 2


def run_policy(database: Path, tmp_path: Path, dataset: str) -> str:
    return policy(database, dataset, tmp_path) + "[limits.breaker]\nenabled = false\n"


def test_a_protected_parent_is_kept_and_the_reason_names_the_protecting_row(
    database: Path, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User

    from tests.django.oracle.models import Folder, Order

    user = User.objects.create(username="ann", date_joined="2000-01-01T00:00:00Z")
    # The order would go with the folder (CASCADE), yet PROTECT keeps the user, as in Django.
    order = Order.objects.create(customer=user, folder=Folder.objects.create(owner=user))
    text = run_policy(
        database, tmp_path, 'model = "auth.User"\nage_column = "date_joined"\nretain = "1d"'
    )
    with Lethe.from_toml(text) as lethe:
        lethe.run(["p"])
        explained = repr(lethe.explain("d", str(user.pk)))
    assert User.objects.filter(pk=user.pk).exists()
    assert Order.objects.filter(pk=order.pk).exists()
    assert f"blocked by oracle.Order.customer PROTECT: oracle_order key {order.pk}" in explained


def test_a_recipient_by_field_goes_through_the_foreign_key(database: Path, tmp_path: Path) -> None:
    text = policy(database, 'model = "oracle.Note"\ndue_column = "due_at"', tmp_path).replace(
        '[[policies.p.actions]]\ntype = "purge"',
        '[[policies.p.actions]]\ntype = "warn"\nbefore = ["7d"]\nrecipient = { field = "owner" }\n'
        '[[policies.p.actions]]\ntype = "purge"',
    )
    with Lethe.from_toml(text) as lethe:
        warn = lethe.settings.config.policies["p"].actions[0]
    recipient = warn.recipient  # type: ignore[union-attr]
    assert (recipient.column, recipient.table, recipient.key, recipient.email) == (
        "owner_id",
        "auth_user",
        "id",
        "email",
    )


def test_without_django_a_dataset_by_model_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "lethe.toml").write_text(
        policy(tmp_path / "app.db", 'model = "a.B"\ndue_column = "x"', tmp_path)
    )
    done = subprocess.run(
        [sys.executable, "-m", "lethe", "check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "datasets.d.model: a dataset by model needs its framework set up" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
