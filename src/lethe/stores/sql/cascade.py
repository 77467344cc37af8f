"""Which child rows go with a parent row, and in which order they are deleted.

A cascade is a list of :class:`Node` in delete order: every table before the tables it
references, the dataset's own table last. Each node knows the ways (:class:`Link`) its rows
point at a node deleted after it; a child that refers to the parent in two roles
(``clinical_notes.patient_id`` and ``.therapist_id``) has two links, and its rows go when
either points at a deleted parent.

It is either discovered from the database's foreign keys (reflected, followed several levels
deep; ``ON DELETE SET NULL``/``SET DEFAULT`` edges are left to the database) or listed in the
policy file in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import MetaData, Table

from lethe.config.datasets import CascadeStep
from lethe.errors import LiveCheckError

__all__ = ["Cascade", "Link", "Node", "discover", "explicit"]


@dataclass(frozen=True)
class Link:
    """``table.columns`` reference ``parent.parent_columns``."""

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """A table in a cascade and how its rows reach the root."""

    table: Table
    links: tuple[Link, ...]

    @property
    def name(self) -> str:
        return self.table.name


@dataclass(frozen=True)
class Cascade:
    """Children in delete order (the root is not included)."""

    root: Table
    key: str
    nodes: tuple[Node, ...]

    @property
    def tables(self) -> list[str]:
        return [n.name for n in self.nodes]

    def referenced(self, table: str) -> set[tuple[str, ...]]:
        """Column tuples of ``table`` that some child's link points at."""
        return {link.parent_columns for n in self.nodes for link in n.links if link.parent == table}


def discover(
    metadata: MetaData,
    root: Table,
    key: str,
    ondelete: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
) -> Cascade:
    """Follow every foreign key that points (transitively) at ``root``.

    ``ondelete`` supplements reflection where the dialect does not report a constraint's
    ``ON DELETE`` rule: ``(table, columns) → rule``.
    """
    incoming: dict[str, list[tuple[Table, Link]]] = {}
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            referred = fk.referred_table
            columns = tuple(c.name for c in fk.columns)
            rule = (fk.ondelete or (ondelete or {}).get((table.name, columns), "")).upper()
            if rule in {"SET NULL", "SET DEFAULT"}:
                continue
            link = Link(
                columns=columns,
                parent=referred.name,
                parent_columns=tuple(e.column.name for e in fk.elements),
            )
            incoming.setdefault(referred.name, []).append((table, link))

    members: dict[str, Table] = {root.name: root}
    links: dict[str, list[Link]] = {}
    frontier = [root.name]
    while frontier:
        parent = frontier.pop()
        for child, link in incoming.get(parent, []):
            if child.name == parent:
                raise LiveCheckError(
                    f"{child.name}.{','.join(link.columns)} references its own table; "
                    "list the cascade explicitly for this dataset"
                )
            links.setdefault(child.name, []).append(link)
            if child.name not in members:
                members[child.name] = child
                frontier.append(child.name)
    if root.name in links:
        raise LiveCheckError(f"foreign keys form a cycle back to {root.name}; list the cascade")
    order = _delete_order(members, links, root.name)
    nodes = tuple(Node(members[name], tuple(links[name])) for name in order)
    return Cascade(root=root, key=key, nodes=nodes)


def _delete_order(members: dict[str, Table], links: dict[str, list[Link]], root: str) -> list[str]:
    """Tables ordered so each comes before every table it references (root excluded)."""
    remaining = {name for name in members if name != root}
    order: list[str] = []
    while remaining:
        # A table can go once nothing still remaining references it.
        ready = sorted(
            name
            for name in remaining
            if not any(link.parent == name for other in remaining for link in links.get(other, []))
        )
        if not ready:
            raise LiveCheckError(
                f"foreign keys among {', '.join(sorted(remaining))} form a cycle; "
                "list the cascade explicitly"
            )
        order.extend(ready)
        remaining.difference_update(ready)
    return order


def explicit(metadata: MetaData, root: Table, key: str, steps: Sequence[CascadeStep]) -> Cascade:
    """The cascade as listed in the policy file (validated against the reflected tables)."""
    nodes: list[Node] = []
    for index, step in enumerate(steps):
        table = metadata.tables.get(_qualified(root, step.table))
        if table is None:
            raise LiveCheckError(f"cascade[{index}]: table {step.table!r} does not exist")
        parent_name = step.parent or root.name
        later = {s.table for s in steps[index + 1 :]} | {root.name}
        if parent_name not in later:
            raise LiveCheckError(
                f"cascade[{index}]: {step.table} must come before its parent {parent_name}, "
                "which must be listed after it (or be the dataset's table)"
            )
        parent = (
            metadata.tables[_qualified(root, parent_name)] if parent_name != root.name else root
        )
        references = step.references or (key if parent is root else _single_key(parent))
        for name in step.columns:
            if name not in table.c:
                raise LiveCheckError(f"cascade[{index}]: {step.table} has no column {name!r}")
        if references not in parent.c:
            raise LiveCheckError(f"cascade[{index}]: {parent_name} has no column {references!r}")
        links = tuple(Link((c,), parent.name, (references,)) for c in step.columns)
        nodes.append(Node(table, links))
    return Cascade(root=root, key=key, nodes=tuple(nodes))


def _qualified(root: Table, name: str) -> str:
    return f"{root.schema}.{name}" if root.schema else name


def _single_key(table: Table) -> str:
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise LiveCheckError(f"{table.name} has no single-column primary key; give 'references'")
    return keys[0].name
