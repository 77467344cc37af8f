"""A schema with every ``ON DELETE`` rule, on SQLite, PostgreSQL and MariaDB (which keeps fewer
of them: :func:`declared`), for issue 13's tests.

``accounts`` is the dataset (due by ``due_at``); around it:

========================  ================================  ==========================
edge (child.columns)      parent                            declared rule
========================  ================================  ==========================
accounts.referred_by      accounts (self-reference)         SET NULL
posts.account_id          accounts                          CASCADE
folders.account_id        accounts                          CASCADE
folders.parent_id         folders (a tree, 3 levels deep)   CASCADE
sessions.account_id       accounts                          SET NULL
sessions.folder_id        folders                           CASCADE
tickets.assignee_id       accounts (default 0)              SET DEFAULT
invoices.account_id       accounts                          RESTRICT
orders.account_id         accounts                          NO ACTION (no clause)
orders.post_id            posts                             CASCADE
notes.account_id          accounts                          NO ACTION DEFERRABLE
referrals.referrer_id     accounts (two roles)              CASCADE
referrals.referred_id     accounts                          CASCADE
teams.account_id          accounts                          CASCADE
teams.lead_member_id      members (a cycle, nullable)       SET NULL
members.team_id           teams                             CASCADE
projects.account_id       accounts                          CASCADE
tasks.account_id,number   projects (composite key)          CASCADE
milestones.account_id,    projects (composite key)          RESTRICT
number
========================  ================================  ==========================

``ledger.account_id`` has no foreign key: a trigger refuses to delete an account that still has
ledger rows (a child the cascade does not cover). Account 0 is the ``SET DEFAULT`` target and is
never due. SQLite gets ``PRAGMA foreign_keys=ON`` on every connection made here (lethe's SQLite
store sets it on its own).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

__all__ = [
    "AS_OF",
    "EDGES",
    "KEYS",
    "ORDER",
    "Edge",
    "Rows",
    "Snapshot",
    "create",
    "engine",
    "load",
    "metadata",
    "policy",
    "snapshot",
]

#: The instant every run is evaluated at.
AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

Rows = Mapping[str, Sequence[Mapping[str, Any]]]
#: ``{table: {key tuple: row as a sorted tuple of (column, value)}}``.
Snapshot = dict[str, dict[tuple[Any, ...], tuple[tuple[str, Any], ...]]]


@dataclass(frozen=True)
class Edge:
    """``child.columns`` reference ``parent.parent_columns`` with the declared ``rule``."""

    child: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    rule: str  # CASCADE, SET NULL, SET DEFAULT, RESTRICT, NO ACTION, NO ACTION DEFERRABLE

    @property
    def name(self) -> str:
        """The edge as a policy's ``on_delete`` names it: ``child.col1,col2``."""
        return f"{self.child}.{','.join(self.columns)}"


def _edge(child: str, columns: str, parent: str, parent_columns: str, rule: str) -> Edge:
    return Edge(child, tuple(columns.split(",")), parent, tuple(parent_columns.split(",")), rule)


EDGES: tuple[Edge, ...] = (
    _edge("accounts", "referred_by", "accounts", "id", "SET NULL"),
    _edge("posts", "account_id", "accounts", "id", "CASCADE"),
    _edge("folders", "account_id", "accounts", "id", "CASCADE"),
    _edge("folders", "parent_id", "folders", "id", "CASCADE"),
    _edge("sessions", "account_id", "accounts", "id", "SET NULL"),
    _edge("sessions", "folder_id", "folders", "id", "CASCADE"),
    _edge("tickets", "assignee_id", "accounts", "id", "SET DEFAULT"),
    _edge("invoices", "account_id", "accounts", "id", "RESTRICT"),
    _edge("orders", "account_id", "accounts", "id", "NO ACTION"),
    _edge("orders", "post_id", "posts", "id", "CASCADE"),
    _edge("notes", "account_id", "accounts", "id", "NO ACTION DEFERRABLE"),
    _edge("referrals", "referrer_id", "accounts", "id", "CASCADE"),
    _edge("referrals", "referred_id", "accounts", "id", "CASCADE"),
    _edge("teams", "account_id", "accounts", "id", "CASCADE"),
    _edge("teams", "lead_member_id", "members", "id", "SET NULL"),
    _edge("members", "team_id", "teams", "id", "CASCADE"),
    _edge("projects", "account_id", "accounts", "id", "CASCADE"),
    _edge("tasks", "account_id,number", "projects", "account_id,number", "CASCADE"),
    _edge("milestones", "account_id,number", "projects", "account_id,number", "RESTRICT"),
)

#: Each table's primary key columns.
KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("id",),
    "posts": ("id",),
    "folders": ("id",),
    "sessions": ("id",),
    "tickets": ("id",),
    "invoices": ("id",),
    "orders": ("id",),
    "notes": ("id",),
    "referrals": ("id",),
    "teams": ("id",),
    "members": ("id",),
    "projects": ("account_id", "number"),
    "tasks": ("id",),
    "milestones": ("id",),
    "ledger": ("id",),
}

#: An insert order that satisfies every foreign key (``teams.lead_member_id`` is set after
#: ``members``: the cycle).
ORDER = tuple(KEYS)
_INSERT_ORDER = (
    "accounts",
    "posts",
    "folders",
    "sessions",
    "tickets",
    "invoices",
    "orders",
    "notes",
    "referrals",
    "teams",
    "members",
    "projects",
    "tasks",
    "milestones",
    "ledger",
)

#: Columns set after every row is in: a self-reference and the cycle teams ⇄ members.
_LATER = {"accounts": "referred_by", "teams": "lead_member_id"}

#: Default of each ``SET DEFAULT`` column.
DEFAULTS = {("tickets", "assignee_id"): 0}


def _int(name: str, *, nullable: bool = True, **kwargs: Any) -> Column[int]:
    return Column(name, Integer, nullable=nullable, autoincrement=False, **kwargs)


def declared(rule: str, dialect: str) -> str:
    """The rule ``dialect`` keeps of a declared one. MariaDB (SQLAlchemy's ``mysql``) has no
    deferrable constraints, InnoDB silently drops ``SET DEFAULT`` (the key is left with no
    rule), and ``RESTRICT`` is ``NO ACTION`` there (both checked row by row, and the server
    reports neither), so all of them are ``NO ACTION``."""
    if dialect == "mysql" and rule in {"NO ACTION DEFERRABLE", "SET DEFAULT", "RESTRICT"}:
        return "NO ACTION"
    return rule


def _fk(edge: Edge, dialect: str) -> ForeignKeyConstraint:
    rule = declared(edge.rule, dialect)
    deferrable = rule == "NO ACTION DEFERRABLE"
    ondelete = None if rule.startswith("NO ACTION") else rule
    return ForeignKeyConstraint(
        list(edge.columns),
        [f"{edge.parent}.{c}" for c in edge.parent_columns],
        ondelete=ondelete,
        deferrable=True if deferrable else None,
        initially="DEFERRED" if deferrable else None,
        # The cycle teams ⇄ members: PostgreSQL adds this one after both tables exist.
        use_alter=edge.name == "teams.lead_member_id",
        name=f"fk_{edge.child}_{'_'.join(edge.columns)}",
    )


def build(dialect: str = "") -> MetaData:
    """The tables, in a new :class:`MetaData` (``create_all`` on PostgreSQL marks the cycle's
    constraint as added by ALTER, which SQLite then leaves out: one per creation)."""
    meta = MetaData()

    def table(name: str, *columns: Column[Any]) -> None:
        fks = [_fk(e, dialect) for e in EDGES if e.child == name]
        Table(name, meta, *columns, PrimaryKeyConstraint(*KEYS[name]), *fks)

    table("accounts", _int("id"), Column("due_at", DateTime(timezone=True)), _int("referred_by"))
    table("posts", _int("id"), _int("account_id", nullable=False))
    table("folders", _int("id"), _int("account_id", nullable=False), _int("parent_id"))
    table("sessions", _int("id"), _int("account_id"), _int("folder_id"))
    table("tickets", _int("id"), _int("assignee_id", nullable=False, server_default=text("0")))
    table("invoices", _int("id"), _int("account_id", nullable=False))
    table("orders", _int("id"), _int("account_id", nullable=False), _int("post_id"))
    table("notes", _int("id"), _int("account_id", nullable=False))
    two_roles = (_int("referrer_id", nullable=False), _int("referred_id", nullable=False))
    table("referrals", _int("id"), *two_roles)
    table("teams", _int("id"), _int("account_id", nullable=False), _int("lead_member_id"))
    table("members", _int("id"), _int("team_id", nullable=False))
    table("projects", _int("account_id"), _int("number"))
    for name in ("tasks", "milestones"):
        table(name, _int("id"), _int("account_id", nullable=False), _int("number", nullable=False))
    table("ledger", _int("id"), _int("account_id", nullable=False))
    return meta


#: The tables, for reading and writing rows.
metadata = build()

_SQLITE_GUARD = """
CREATE TRIGGER accounts_ledger_guard BEFORE DELETE ON accounts
WHEN EXISTS (SELECT 1 FROM ledger WHERE account_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'account has ledger entries'); END
"""
_PG_GUARD = (
    """
CREATE FUNCTION ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM ledger WHERE account_id = OLD.id) THEN
    RAISE EXCEPTION USING ERRCODE = '23503',
      MESSAGE = format('account %s has ledger entries', OLD.id);
  END IF;
  RETURN OLD;
END $$
""",
    """
CREATE TRIGGER accounts_ledger_guard BEFORE DELETE ON accounts
FOR EACH ROW EXECUTE FUNCTION ledger_guard()
""",
)

_MARIADB_GUARD = """
CREATE TRIGGER accounts_ledger_guard BEFORE DELETE ON accounts FOR EACH ROW
BEGIN
  IF EXISTS (SELECT 1 FROM ledger WHERE account_id = OLD.id) THEN
    SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = 'account has ledger entries';
  END IF;
END
"""

_engines: dict[str, Engine] = {}


def engine(url: str) -> Engine:
    """A cached engine for ``url`` (SQLite: with foreign keys enforced); see :func:`dispose`."""
    if url not in _engines:
        made = create_engine(url)
        if made.dialect.name == "sqlite":

            @event.listens_for(made, "connect")
            def _foreign_keys(dbapi: Any, _record: Any) -> None:
                dbapi.execute("PRAGMA foreign_keys=ON")

        _engines[url] = made
    return _engines[url]


def dispose() -> None:
    """Close every engine :func:`engine` made."""
    while _engines:
        _engines.popitem()[1].dispose()


def create(url: str) -> None:
    """(Re)create the schema, its trigger and account 0 at ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _engines.pop(url, create_engine(url)).dispose()
        Path(parsed.database or "").unlink(missing_ok=True)
    eng = engine(url)
    dialect = eng.dialect.name
    if dialect == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    if dialect == "mysql":
        with eng.begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for name in conn.execute(text("SHOW TABLES")).scalars().all():
                conn.execute(text(f"DROP TABLE `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    build(dialect).create_all(eng)
    guards = {"postgresql": _PG_GUARD, "mysql": (_MARIADB_GUARD,)}
    with eng.begin() as conn:
        for statement in guards.get(dialect, (_SQLITE_GUARD,)):
            conn.execute(text(statement))
        conn.execute(insert(metadata.tables["accounts"]).values(id=0, due_at=None))


def load(url: str, rows: Rows) -> None:
    """Insert ``rows`` (``{table: [row, …]}``, account 0 excluded) in an order every foreign
    key accepts: the columns of :data:`_LATER` (a self-reference, the cycle) are set last."""
    later: list[tuple[Table, Mapping[str, Any], str]] = []
    with engine(url).begin() as conn:
        for name in _INSERT_ORDER:
            table, batch = metadata.tables[name], [dict(r) for r in rows.get(name, ())]
            column = _LATER.get(name)
            if column:
                later += [(table, r, column) for r in batch if r.get(column) is not None]
                batch = [{**r, column: None} for r in batch]
            if batch:
                conn.execute(insert(table), batch)
        for table, row, column in later:
            conn.execute(update(table).where(table.c.id == row["id"]).values({column: row[column]}))


def snapshot(url: str) -> Snapshot:
    """Every row of every table, by key (instants in UTC), read with plain SQL."""
    out: Snapshot = {}
    with engine(url).connect() as conn:
        for name in ORDER:
            table = metadata.tables[name]
            rows: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}
            for row in conn.execute(select(table)).mappings():
                values = {k: _utc(v) for k, v in row.items()}
                rows[tuple(values[k] for k in KEYS[name])] = tuple(sorted(values.items()))
            out[name] = rows
    return out


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


POLICY = """
[state]
url = "sqlite:///state.db"
runs_dir = ""
[limits]
batch_size = {batch}
batch_seconds = 0
[limits.breaker]
enabled = false
[stores.app]
url = "{url}"
[datasets.accounts]
table = "accounts"
key = "id"
due_column = "due_at"
{dataset_extra}
[policies.purge]
dataset = "accounts"
[[policies.purge.actions]]
type = "purge"
"""


def policy(url: str, *, batch: int = 1000, dataset_extra: str = "") -> str:
    """The policy file over this schema: purge due accounts in batches of ``batch``;
    ``dataset_extra`` adds lines to ``[datasets.accounts]`` (``no_action = "cascade"``…)."""
    return POLICY.format(url=url, batch=batch, dataset_extra=dataset_extra)


@contextmanager
def schema_at(url: str, rows: Rows) -> Iterator[None]:
    """The schema created and loaded at ``url``; engines disposed afterwards."""
    try:
        create(url)
        load(url, rows)
        yield
    finally:
        dispose()
