"""The foreign-key graph around a dataset's table, each edge with what a delete does to it.

Every foreign key that points at a table whose rows a purge may delete is an :class:`Edge`, and
each edge gets a *treatment*, from the schema's own ``ON DELETE`` rule unless the policy says
otherwise:

==========================  ============  ================================================
declared rule               treatment     what lethe does to a referencing row
==========================  ============  ================================================
``CASCADE``                 cascade       deletes it first, counted and audited
``SET NULL``                set_null      sets its columns to NULL in the same transaction
``SET DEFAULT``             set_default   sets its columns to their default, likewise
``RESTRICT``, ``NO ACTION`` block         keeps the parent: the item is ``skipped_blocked``
(policy only)               protect       keeps the parent even when the row would be deleted
==========================  ============  ================================================

A policy changes a treatment per edge (``on_delete = { "invoices.customer_id" = "cascade" }``),
for every ``NO ACTION`` edge at once (``no_action = "cascade"``, for schemas whose foreign keys
carry no rules because the application deletes children itself), or by listing the cascade
(each listed step is a cascade edge, declared by the schema or not). The tables reached through
cascade edges are the deletion graph; their incoming edges are all treated, to any depth,
through self-references and cycles (a cycle must contain an edge whose columns can be set NULL,
which breaks it). A listed step may carry any treatment, a constant condition on its child rows
(a generic relation: ``content_type_id = 7``) and a label; a listed step the schema does not
declare is no constraint, so it never orders deletes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import Column, MetaData, String, Table

from lethe.config.datasets import CascadeStep, OnDelete
from lethe.errors import LiveCheckError

__all__ = ["Cascade", "Edge", "Treatment", "build", "identity"]

Treatment = Literal["cascade", "set_null", "set_default", "block", "protect"]

_BY_RULE: dict[str, Treatment] = {
    "CASCADE": "cascade",
    "SET NULL": "set_null",
    "SET DEFAULT": "set_default",
    "RESTRICT": "block",
    "NO ACTION": "block",
}

#: Tables in one deletion graph beyond which lethe refuses to plan (a pathological schema).
MAX_TABLES = 500


@dataclass(frozen=True)
class Edge:
    """``child.columns`` reference ``parent.parent_columns``; ``rule`` as the schema declares
    it (``""`` for a listed link the schema does not declare)."""

    child: Table
    columns: tuple[str, ...]
    parent: Table
    parent_columns: tuple[str, ...]
    rule: str
    treatment: Treatment
    #: What decided the treatment: ``rule``, ``on_delete``, ``no_action`` or ``cascade list``.
    source: str = "rule"
    #: What ``set_default`` writes (None: the column's declared default).
    value: Any = None
    #: Column → value every referencing row also holds (a generic relation's content type).
    when: tuple[tuple[str, Any], ...] = ()
    #: How ``lethe check`` and blocked reasons name the edge (e.g. the model field behind it).
    label: str = ""

    @property
    def declared(self) -> bool:
        """The schema declares this foreign key (so the database orders deletes by it)."""
        return bool(self.rule)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """``row`` of the child holds the edge's constant values."""
        return all(row[c] == v for c, v in self.when)

    def child_key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parent key a child row references (None when it does not, by ``when``)."""
        return tuple(row[c] for c in self.columns)

    def parent_key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """A parent row's referenced values as the child's columns hold them: a text column
        referencing a number (a generic relation's ``object_pk``) holds its text."""
        return tuple(
            _as_column(self.child.c[c], row[p])
            for c, p in zip(self.columns, self.parent_columns, strict=True)
        )

    @property
    def name(self) -> str:
        """``child.col`` (``child.col1,col2`` for a composite key), as overrides name it."""
        return f"{self.child.name}.{','.join(self.columns)}"

    @property
    def nullable(self) -> bool:
        """Every column of the edge may hold NULL (so setting it NULL breaks a cycle)."""
        return all(self.child.c[c].nullable for c in self.columns)


@dataclass(frozen=True)
class Cascade:
    """The deletion graph of a dataset: every treated edge, and the tables rows may leave."""

    root: Table
    key: tuple[str, ...]
    edges: tuple[Edge, ...] = ()
    #: Child tables reached through cascade edges (the root excluded), children first where
    #: the graph is acyclic.
    members: tuple[Table, ...] = ()

    @property
    def tables(self) -> list[str]:
        """Names of the tables cascaded rows may be deleted from (the root excluded)."""
        return [t.name for t in self.members]

    def touched(self) -> list[Table]:
        """Tables lethe reads or changes besides the root: members and referencing tables."""
        seen: dict[str, Table] = {t.name: t for t in self.members}
        for edge in self.edges:
            if edge.child.name != self.root.name:
                seen.setdefault(edge.child.name, edge.child)
        return list(seen.values())

    def member(self, name: str) -> Table:
        """The table called ``name`` among the root, the members and the referencing tables."""
        if name == self.root.name:
            return self.root
        for table in (*self.members, *(e.child for e in self.edges)):
            if table.name == name:
                return table
        raise KeyError(name)

    def cascading(self) -> list[Edge]:
        """The edges whose referencing rows are deleted with their parent."""
        return [e for e in self.edges if e.treatment == "cascade"]

    def blocking(self) -> list[Edge]:
        """The edges whose referencing rows keep their parent."""
        return [e for e in self.edges if e.treatment in {"block", "protect"}]


def _as_column(column: Column[Any], value: Any) -> Any:
    if value is not None and isinstance(column.type, String) and not isinstance(value, str):
        return str(value)
    return value


def identity(table: Table) -> tuple[str, ...]:
    """The columns that tell ``table``'s rows apart: its primary key (all columns without one)."""
    primary = tuple(c.name for c in table.primary_key.columns)
    return primary or tuple(c.name for c in table.columns)


def _declared(
    metadata: MetaData, ondelete: Mapping[tuple[str, tuple[str, ...]], str]
) -> dict[str, list[tuple[Table, tuple[str, ...], Table, tuple[str, ...], str]]]:
    """Every foreign key of ``metadata`` between two of its tables, by referenced table name,
    with its rule. A key to a table not reflected (no purge of the root can reach it: see
    :func:`lethe.stores.sql.catalog.referencing`) is no edge."""
    incoming: dict[str, list[tuple[Table, tuple[str, ...], Table, tuple[str, ...], str]]] = {}
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            if fk.elements[0].target_fullname.rpartition(".")[0] not in metadata.tables:
                continue
            columns = tuple(c.name for c in fk.columns)
            rule = (fk.ondelete or ondelete.get((table.name, columns), "") or "NO ACTION").upper()
            parent = fk.referred_table
            parents = tuple(e.column.name for e in fk.elements)
            incoming.setdefault(parent.name, []).append((table, columns, parent, parents, rule))
    return incoming


def build(
    metadata: MetaData,
    root: Table,
    key: Sequence[str],
    *,
    ondelete: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
    steps: Sequence[CascadeStep] = (),
    overrides: Mapping[str, OnDelete] | None = None,
    no_action: Literal["block", "cascade"] = "block",
) -> Cascade:
    """The deletion graph of ``root``: declared foreign keys treated by rule, ``overrides``
    (``"child.col"`` → treatment) and ``no_action``, plus the listed ``steps`` as cascades.

    Raises :class:`LiveCheckError` for an override naming no edge, a cycle of cascades with no
    nullable edge, or a graph past :data:`MAX_TABLES`.
    """
    incoming = _declared(metadata, ondelete or {})
    listed = _listed(metadata, root, tuple(key), steps)
    overrides = dict(overrides or {})
    _check_overrides(metadata, listed, overrides)
    members: dict[str, Table] = {root.name: root}
    edges: list[Edge] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop(0)
        found = [
            _treated(*spec, overrides, no_action) for spec in incoming.get(parent.name, [])
        ] + [e for e in listed if e.parent.name == parent.name]
        for edge in _dedupe(found):
            edges.append(edge)
            if edge.treatment == "cascade" and edge.child.name not in members:
                members[edge.child.name] = edge.child
                frontier.append(edge.child)
                if len(members) > MAX_TABLES:
                    raise LiveCheckError(
                        f"the cascade of {root.name} reaches more than {MAX_TABLES} tables; "
                        'list it explicitly or set cascade = "none"'
                    )
    for edge in listed:
        if edge.parent.name not in members:
            raise LiveCheckError(
                f"cascade: {edge.name} references {edge.parent.name}, which is neither the "
                f"dataset's table nor a table the cascade reaches"
            )
    _require_breakable(root, members, edges)
    order = _delete_order(root, members, edges)
    return Cascade(root, tuple(key), tuple(edges), tuple(members[n] for n in order))


def _treated(
    child: Table,
    columns: tuple[str, ...],
    parent: Table,
    parents: tuple[str, ...],
    rule: str,
    overrides: Mapping[str, OnDelete],
    no_action: str,
) -> Edge:
    name = f"{child.name}.{','.join(columns)}"
    if name in overrides:
        return Edge(child, columns, parent, parents, rule, overrides[name], "on_delete")
    if rule == "NO ACTION" and no_action == "cascade":
        return Edge(child, columns, parent, parents, rule, "cascade", "no_action")
    return Edge(child, columns, parent, parents, rule, _BY_RULE.get(rule, "block"))


def _dedupe(edges: list[Edge]) -> list[Edge]:
    """A listed step that repeats a declared edge replaces it (the list opts it in)."""
    by_name: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        slot = (edge.name, edge.parent.name)
        previous = by_name.get(slot)
        if previous is not None and edge.source == "cascade list":
            edge = replace(edge, rule=previous.rule)
        by_name[slot] = edge
    return list(by_name.values())


def _check_overrides(
    metadata: MetaData, listed: Sequence[Edge], overrides: Mapping[str, OnDelete]
) -> None:
    """Every override names a foreign key (of any table reflected: those named are)."""
    known: dict[str, list[tuple[str, ...]]] = {}
    for reflected in metadata.tables.values():
        for fk in reflected.foreign_key_constraints:
            known.setdefault(reflected.name, []).append(tuple(c.name for c in fk.columns))
    for edge in listed:
        known.setdefault(edge.child.name, []).append(edge.columns)
    for name in sorted(overrides):
        table, _, cols = name.partition(".")
        columns = tuple(c.strip() for c in cols.split(","))
        if columns in known.get(table, []):
            continue
        have = known.get(table, [])
        names = ", ".join(sorted(f"{table}.{','.join(c)}" for c in have))
        if any(set(columns) & set(c) and len(c) != len(columns) for c in have):
            hint = f"wrong number of columns: {len(columns)}; its foreign keys: {names}"
        elif have:
            hint = f"its foreign keys: {names}"
        else:
            hint = f"{table} has no foreign key"
        raise LiveCheckError(f"on_delete names {name!r}, which is no foreign key ({hint})")


def _listed(
    metadata: MetaData, root: Table, key: tuple[str, ...], steps: Sequence[CascadeStep]
) -> list[Edge]:
    """The explicit cascade list as cascade edges (validated against the reflected tables)."""
    edges: list[Edge] = []
    for index, step in enumerate(steps):
        table = metadata.tables.get(_qualified(root, step.table))
        if table is None:
            raise LiveCheckError(f"cascade[{index}]: table {step.table!r} does not exist")
        parent_name = step.parent or root.name
        parent = metadata.tables.get(_qualified(root, parent_name))
        if parent is None:
            raise LiveCheckError(f"cascade[{index}]: table {parent_name!r} does not exist")
        references = step.referenced() or (key if parent is root else identity(parent))
        for name in (*step.columns, *references):
            owner = table if name in step.columns else parent
            if name not in owner.c:
                raise LiveCheckError(f"cascade[{index}]: {owner.name} has no column {name!r}")
        primary = tuple(c.name for c in parent.primary_key.columns)
        if len(primary) > 1 and set(references) < set(primary):
            # Part of a composite key is not unique: it would reach other parents' children.
            raise LiveCheckError(
                f"cascade[{index}]: references names {len(references)} of the "
                f"{len(primary)} columns of {parent.name}'s key {','.join(primary)}; name "
                "them all, in the order the child's columns refer to them"
            )
        # One column per role against a one-column key; all columns together against a
        # composite key (a composite foreign key).
        groups = [tuple(step.columns)] if len(references) > 1 else [(c,) for c in step.columns]
        for columns in groups:
            if len(columns) != len(references):
                raise LiveCheckError(
                    f"cascade[{index}]: {step.table}.{','.join(columns)} has {len(columns)} "
                    f"column(s) but {parent.name}'s key {','.join(references)} has "
                    f"{len(references)}"
                )
            for name in step.when:
                if name not in table.c:
                    raise LiveCheckError(f"cascade[{index}]: {table.name} has no column {name!r}")
            edges.append(
                Edge(
                    table,
                    columns,
                    parent,
                    references,
                    "",
                    step.on_delete,
                    "cascade list",
                    value=step.value,
                    when=tuple(sorted(step.when.items())),
                    label=step.label,
                )
            )
    return edges


def _require_breakable(root: Table, members: Mapping[str, Table], edges: Sequence[Edge]) -> None:
    """Refuse a cycle of declared cascade edges between tables that no nullable edge breaks
    (an undeclared edge is no constraint: it never forces an order)."""
    cascades = [
        e
        for e in edges
        if e.treatment == "cascade" and e.declared and e.child.name != e.parent.name
    ]
    graph: dict[str, set[str]] = {}
    for edge in cascades:
        if not edge.nullable:
            graph.setdefault(edge.parent.name, set()).add(edge.child.name)
    cycle = _find_cycle(graph)
    if cycle:
        path = " → ".join([*cycle, cycle[0]])
        raise LiveCheckError(
            f"the foreign keys {path} form a cycle with no nullable column to break it; "
            'set one of them on_delete = "block" or make a column nullable'
        )


def _find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (iteratively, whatever its depth), or []."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = pending.pop(0)
            if state.get(nxt) == 1:
                return path[path.index(nxt) :]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return []


def _delete_order(root: Table, members: Mapping[str, Table], edges: Sequence[Edge]) -> list[str]:
    """Member tables, each before the tables it references where the graph allows (a cycle's
    tables keep discovery order: rows are ordered one by one when deleted)."""
    remaining = [name for name in members if name != root.name]
    refs = {
        (e.child.name, e.parent.name)
        for e in edges
        if e.child.name != e.parent.name and e.child.name in members and e.declared
    }
    order: list[str] = []
    while remaining:
        ready = [n for n in remaining if not any((o, n) in refs for o in remaining if o != n)]
        order.extend(ready or remaining[:1])
        remaining = [n for n in remaining if n not in order]
    return order


def _qualified(root: Table, name: str) -> str:
    return f"{root.schema}.{name}" if root.schema else name
