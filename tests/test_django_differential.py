"""Django is the oracle: on generated data, a lethe run over ``model = "auth.User"`` leaves the
database exactly as deleting the same users one by one with Django's ``obj.delete()`` does.

The project (tests/django/oracle) has every ``on_delete`` kind, generic relations (its own,
taggit's and contrib-comments' text ``object_pk``), auto-created and explicit M2M, multi-table
inheritance, a proxy, a ``ForeignKey("self")`` tree, ``db_constraint=False`` keys, a FileField,
and allauth's and auditlog's user keys. Both copies start from one database Django migrated and
filled; lethe runs in batches of one (Django's one-by-one), then every table is compared row for
row, set-null and set-default values included; the users Django refuses (ProtectedError,
RestrictedError, the database's IntegrityError for DO_NOTHING) are exactly the users lethe keeps.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url

from lethe import Lethe
from tests.support import django_project

USERS = 4  # candidate users, pks 2..5 (pk 1 is the sentinel, never due)
DUE, LATER = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"

user = st.integers(0, USERS)  # 0: the sentinel
maybe_user = st.none() | user


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """Rows referencing the users in every way the project allows."""
    folders: list[tuple[int, int | None]] = []
    for index in range(draw(st.integers(0, 5))):
        parent = draw(st.none() | st.integers(0, index - 1)) if index else None
        folders.append((draw(user), parent))
    folder = st.none() | st.integers(0, len(folders) - 1) if folders else st.none()
    notes = draw(
        st.lists(
            st.tuples(maybe_user, maybe_user, folder, st.integers(0, 2), st.integers(0, 2)),
            max_size=4,
        )
    )
    places = draw(
        st.lists(st.tuples(maybe_user, st.none() | st.just(True), maybe_user), max_size=4)
    )
    place = st.integers(0, len(places) - 1) if places else st.nothing()
    return {
        "due": draw(st.lists(st.booleans(), min_size=USERS, max_size=USERS)),
        "folders": folders,
        "notes": notes,
        "orders": draw(st.lists(st.tuples(user, folder), max_size=2)),
        "invoices": draw(st.lists(st.tuples(user, folder), max_size=2)),
        "tickets": draw(st.lists(st.tuples(user, maybe_user), max_size=3)),
        "trails": draw(st.lists(maybe_user, max_size=1)),
        "loose": draw(st.lists(st.tuples(user, maybe_user), max_size=2)),
        "teams": draw(st.lists(st.tuples(st.sets(user), st.sets(user)), max_size=2)),
        "places": places,
        "reviews": draw(st.lists(st.tuples(place, maybe_user), max_size=3)) if places else [],
        "licences": draw(st.lists(place, max_size=1)) if places else [],
        "badges": draw(st.lists(user, max_size=2)),
        "documents": draw(st.lists(user, max_size=2)),
        "emails": draw(st.lists(st.tuples(user, st.booleans()), max_size=3)),
        "audit": draw(st.lists(maybe_user, max_size=3)),
        "comments": draw(st.lists(st.tuples(maybe_user, maybe_user), max_size=3)),
    }


def fill(world: dict[str, Any], using: str) -> None:
    """Write ``world`` through Django's ORM into database ``using``."""
    from allauth.account.models import EmailAddress, EmailConfirmation
    from auditlog.models import LogEntry
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django_comments.models import Comment, CommentFlag

    from tests.django.oracle import models as m

    users = [User.objects.using(using).get(pk=1)]
    for index, due in enumerate(world["due"]):
        joined = DUE if due else LATER
        users.append(User.objects.using(using).create(username=f"u{index}", date_joined=joined))

    def u(index: int | None) -> Any:
        return None if index is None else users[index]

    folders: list[m.Folder] = []
    for owner, parent in world["folders"]:
        folders.append(
            m.Folder.objects.using(using).create(
                owner=u(owner), parent=None if parent is None else folders[parent]
            )
        )

    def f(index: int | None) -> Any:
        return None if index is None else folders[index]

    tag_names = ["red", "blue"]
    for number, (owner, author, folder, attachments, tags) in enumerate(world["notes"]):
        note = m.Note.objects.using(using).create(
            owner=u(owner), author=u(author), folder=f(folder)
        )
        for _ in range(attachments):
            m.Attachment.objects.using(using).create(content_object=note)
        note.tags.add(*tag_names[:tags])
        if number == 0:
            for commenter, flagger in world["comments"]:
                comment = Comment.objects.using(using).create(
                    content_object=note, site_id=1, user=u(commenter), comment="hi"
                )
                if flagger is not None:
                    CommentFlag.objects.using(using).create(
                        comment=comment, user=u(flagger), flag="x"
                    )
    for customer, folder in world["orders"]:
        m.Order.objects.using(using).create(customer=u(customer), folder=f(folder))
    for customer, folder in world["invoices"]:
        m.Invoice.objects.using(using).create(customer=u(customer), folder=f(folder))
    for assignee, reviewer in world["tickets"]:
        m.Ticket.objects.using(using).create(assignee=u(assignee), reviewer=u(reviewer))
    for trail in world["trails"]:
        m.Trail.objects.using(using).create(user=u(trail))
    for loose, mirror in world["loose"]:
        m.Loose.objects.using(using).create(
            user_id=u(loose).pk, mirror_id=None if mirror is None else u(mirror).pk
        )
    for members, clubbers in world["teams"]:
        team = m.Team.objects.using(using).create()
        team.members.set([u(i) for i in members])
        for i in clubbers:
            m.Membership.objects.using(using).create(team=team, user=u(i))
    places: list[m.Place] = []
    for owner, restaurant, manager in world["places"]:
        if restaurant:
            places.append(
                m.Restaurant.objects.using(using).create(owner=u(owner), manager=u(manager))
            )
        else:
            places.append(m.Place.objects.using(using).create(owner=u(owner)))
    for place, author in world["reviews"]:
        m.Review.objects.using(using).create(place_id=places[place].pk, author=u(author))
    for place in world["licences"]:
        m.Licence.objects.using(using).create(place_id=places[place].pk)
    for holder in world["badges"]:
        m.Badge.objects.using(using).create(holder_id=u(holder).pk)
    for owner in world["documents"]:
        m.Document.objects.using(using).create(owner=u(owner), file="docs/a.txt")
    for number, (owner, confirmed) in enumerate(world["emails"]):
        address = EmailAddress.objects.using(using).create(
            user=u(owner), email=f"e{number}@example.org"
        )
        if confirmed:
            EmailConfirmation.objects.using(using).create(email_address=address, key=f"k{number}")
    user_type = ContentType.objects.db_manager(using).get_for_model(User)
    for actor in world["audit"]:
        LogEntry.objects.using(using).create(
            content_type=user_type, object_pk="1", object_repr="x", action=0, actor=u(actor)
        )


def django_deletes(using: str) -> set[int]:
    """Delete every due user one by one with ``obj.delete()``; the pks Django refuses."""
    from django.contrib.auth.models import User
    from django.db import IntegrityError, transaction

    refused = set()
    due = User.objects.using(using).filter(date_joined__lt="2001-01-01T00:00:00Z")
    for pk in sorted(due.values_list("pk", flat=True)):
        try:
            with transaction.atomic(using=using):
                User.objects.using(using).get(pk=pk).delete()
        except IntegrityError:  # ProtectedError and RestrictedError are IntegrityErrors too
            refused.add(pk)
    return refused


POLICY = """
[stores.app]
url = "{url}"
[state]
url = "sqlite:///{dir}/state.db"
runs_dir = ""
[limits]
batch_size = 1
batch_seconds = 0
[limits.breaker]
enabled = false
[datasets.users]
model = "auth.User"
age_column = "date_joined"
retain = "1d"
[policies.accounts]
dataset = "users"
[[policies.accounts.actions]]
type = "purge"
"""


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
                for name, t in metadata.tables.items()
            }
    finally:
        engine.dispose()


class SQLiteCopies:
    """Django fills a copy of the migrated template; lethe gets a file copy of that."""

    alias = "default"

    def __init__(self, template: Path, work: Path) -> None:
        self.template, self.work = template, work

    def django_database(self) -> None:
        django_project.use(self.template, self.work / "django.db")

    def lethe_copy(self) -> str:
        shutil.copyfile(self.work / "django.db", self.work / "lethe.db")
        return f"sqlite:///{self.work / 'lethe.db'}"

    def urls(self) -> tuple[str, str]:
        return f"sqlite:///{self.work / 'django.db'}", f"sqlite:///{self.work / 'lethe.db'}"


class PostgresCopies:
    """Databases made from a migrated template database (``CREATE DATABASE … TEMPLATE``);
    Django's default alias is PostgreSQL meanwhile (taggit and SET() use the default)."""

    alias = "default"

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.url = make_url(admin_url)

    def _clone(self, name: str, source: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {source}"))

    def django_database(self) -> None:
        from django.db import connections

        connections[self.alias].close()
        self._clone("dj_oracle", "dj_template")
        django_project.point(self.alias, "dj_oracle")

    def lethe_copy(self) -> str:
        from django.db import connections

        connections[self.alias].close()
        self._clone("dj_lethe", "dj_oracle")
        django_project.point("pg_lethe", "dj_lethe")
        return "django://pg_lethe"

    def urls(self) -> tuple[str, str]:
        render = lambda name: self.url.set(database=name).render_as_string(hide_password=False)  # noqa: E731
        return render("dj_oracle"), render("dj_lethe")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return django_project.setup(tmp_path_factory.mktemp("django"))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state database for every example (creating it is most of a small run's cost)."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def postgres(template: Path, pg_admin_url: str) -> Iterator[PostgresCopies]:
    copies = PostgresCopies(pg_admin_url)
    with copies.admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS dj_template WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE dj_template"))
    template_url = copies.url.set(database="dj_template").render_as_string(hide_password=False)
    sqlite = django_project.swap_default(template_url)
    django_project.add_postgres("pg_lethe", template_url)
    django_project.migrate_postgres("default")
    yield copies
    django_project.swap_default(sqlite)
    copies.admin.dispose()


def differential(copies: SQLiteCopies | PostgresCopies, state: Path, world: dict[str, Any]) -> None:
    from django.db import connections

    copies.django_database()
    fill(world, copies.alias)
    connections.close_all()
    store = copies.lethe_copy()
    refused = django_deletes(copies.alias)
    connections.close_all()
    with Lethe.from_toml(POLICY.format(url=store, dir=state)) as lethe:
        result = lethe.run(["accounts"])
    connections.close_all()
    assert result.ok, result.errors
    theirs_url, ours_url = copies.urls()
    theirs, ours = tables(theirs_url), tables(ours_url)
    kept = {row[0] for row in ours["auth_user"] if row[0] != 1 and world["due"][row[0] - 2]}
    assert kept == refused
    for name in theirs:
        if name.startswith("lethe_"):
            continue
        assert ours[name] == theirs[name], name


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(world=worlds())
def test_lethe_leaves_the_database_as_django_delete_does(
    template: Path, state: Path, tmp_path_factory: pytest.TempPathFactory, world: dict[str, Any]
) -> None:
    differential(SQLiteCopies(template, tmp_path_factory.mktemp("example")), state, world)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(world=worlds())
def test_on_postgresql_too(postgres: PostgresCopies, state: Path, world: dict[str, Any]) -> None:
    """The same property on PostgreSQL, whose foreign keys Django makes DEFERRABLE."""
    differential(postgres, state, world)
