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
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def fill(world: dict[str, Any]) -> None:
    """Write ``world`` through Django's ORM into the default database."""
    from allauth.account.models import EmailAddress, EmailConfirmation
    from auditlog.models import LogEntry
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django_comments.models import Comment, CommentFlag

    from tests.django.oracle import models as m

    users = [User.objects.get(pk=1)]
    for index, due in enumerate(world["due"]):
        joined = DUE if due else LATER
        users.append(User.objects.create(username=f"u{index}", date_joined=joined))

    def u(index: int | None) -> Any:
        return None if index is None else users[index]

    folders: list[m.Folder] = []
    for owner, parent in world["folders"]:
        folders.append(
            m.Folder.objects.create(
                owner=u(owner), parent=None if parent is None else folders[parent]
            )
        )

    def f(index: int | None) -> Any:
        return None if index is None else folders[index]

    tag_names = ["red", "blue"]
    for number, (owner, author, folder, attachments, tags) in enumerate(world["notes"]):
        note = m.Note.objects.create(owner=u(owner), author=u(author), folder=f(folder))
        for _ in range(attachments):
            m.Attachment.objects.create(content_object=note)
        note.tags.add(*tag_names[:tags])
        if number == 0:
            for commenter, flagger in world["comments"]:
                comment = Comment.objects.create(
                    content_object=note, site_id=1, user=u(commenter), comment="hi"
                )
                if flagger is not None:
                    CommentFlag.objects.create(comment=comment, user=u(flagger), flag="x")
    for customer, folder in world["orders"]:
        m.Order.objects.create(customer=u(customer), folder=f(folder))
    for customer, folder in world["invoices"]:
        m.Invoice.objects.create(customer=u(customer), folder=f(folder))
    for assignee, reviewer in world["tickets"]:
        m.Ticket.objects.create(assignee=u(assignee), reviewer=u(reviewer))
    for trail in world["trails"]:
        m.Trail.objects.create(user=u(trail))
    for loose, mirror in world["loose"]:
        m.Loose.objects.create(
            user_id=u(loose).pk, mirror_id=None if mirror is None else u(mirror).pk
        )
    for members, clubbers in world["teams"]:
        team = m.Team.objects.create()
        team.members.set([u(i) for i in members])
        for i in clubbers:
            m.Membership.objects.create(team=team, user=u(i))
    places: list[m.Place] = []
    for owner, restaurant, manager in world["places"]:
        if restaurant:
            places.append(m.Restaurant.objects.create(owner=u(owner), manager=u(manager)))
        else:
            places.append(m.Place.objects.create(owner=u(owner)))
    for place, author in world["reviews"]:
        m.Review.objects.create(place_id=places[place].pk, author=u(author))
    for place in world["licences"]:
        m.Licence.objects.create(place_id=places[place].pk)
    for holder in world["badges"]:
        m.Badge.objects.create(holder_id=u(holder).pk)
    for owner in world["documents"]:
        m.Document.objects.create(owner=u(owner), file="docs/a.txt")
    for number, (owner, confirmed) in enumerate(world["emails"]):
        address = EmailAddress.objects.create(user=u(owner), email=f"e{number}@example.org")
        if confirmed:
            EmailConfirmation.objects.create(email_address=address, key=f"k{number}")
    user_type = ContentType.objects.get_for_model(User)
    for actor in world["audit"]:
        LogEntry.objects.create(
            content_type=user_type, object_pk="1", object_repr="x", action=0, actor=u(actor)
        )


def django_deletes() -> set[int]:
    """Delete every due user one by one with ``obj.delete()``; the pks Django refuses."""
    from django.contrib.auth.models import User
    from django.db import IntegrityError, transaction

    refused = set()
    for pk in sorted(
        User.objects.filter(date_joined__lt="2001-01-01T00:00:00Z").values_list("pk", flat=True)
    ):
        try:
            with transaction.atomic():
                User.objects.get(pk=pk).delete()
        except IntegrityError:  # ProtectedError and RestrictedError are IntegrityErrors too
            refused.add(pk)
    return refused


POLICY = """
[stores.app]
url = "sqlite:///{db}"
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


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return django_project.setup(tmp_path_factory.mktemp("django"))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state database for every example (creating it is most of a small run's cost)."""
    return tmp_path_factory.mktemp("state")


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(world=worlds())
def test_lethe_leaves_the_database_as_django_delete_does(
    template: Path, state: Path, tmp_path_factory: pytest.TempPathFactory, world: dict[str, Any]
) -> None:
    from django.db import connections

    work = tmp_path_factory.mktemp("example")
    oracle, mine = work / "django.db", work / "lethe.db"
    django_project.use(template, oracle)
    fill(world)
    connections.close_all()
    shutil.copyfile(oracle, mine)
    refused = django_deletes()
    connections.close_all()
    with Lethe.from_toml(POLICY.format(db=mine, dir=state)) as lethe:
        result = lethe.run(["accounts"])
    assert result.ok, result.errors
    theirs, ours = tables(oracle), tables(mine)
    kept = {pk for (pk, *_rest) in ours["auth_user"] if pk != 1 and world["due"][pk - 2]}
    assert kept == refused
    for name in theirs:
        if name.startswith("lethe_"):
            continue
        assert ours[name] == theirs[name], name
