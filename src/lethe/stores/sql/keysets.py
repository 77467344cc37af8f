"""Binding a batch's keys as one parameter.

``key IN (:k1, :k2, … :k1000)`` makes a new statement text for every batch size, so neither
SQLAlchemy's compiled cache nor the server's prepared statements are reused, and expanding a
thousand parameters costs more than the delete itself. One array parameter keeps the text fixed:
``= ANY(:keys)`` on PostgreSQL, ``IN (SELECT value FROM json_each(:keys))`` on SQLite. Other
dialects, and composite keys (a list of tuples), fall back to an expanding ``IN``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement as _Column

__all__ = ["KeySet", "Match"]

#: "this column's value is one of the set": how a statement restricts rows to a batch.
Match = Callable[[_Column[Any]], ColumnElement[bool]]


class KeySet:
    """A named parameter holding a list of keys of the key columns' types (tuples for a
    composite key)."""

    def __init__(self, name: str, key_columns: Sequence[_Column[Any]], dialect: Dialect) -> None:
        self.name = name
        self.dialect = dialect
        self.composite = len(key_columns) > 1
        self.key_type = key_columns[0].type
        self._to_db = key_columns[0].type.bind_processor(dialect)

    def match(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """``column`` (the key's column, or their tuple) is one of the bound keys."""
        if self.composite:
            return column.in_(bindparam(self.name, expanding=True))
        if self.dialect.name == "postgresql":
            return column == any_(bindparam(self.name, type_=ARRAY(self.key_type)))
        if self.dialect.name == "sqlite":
            values: Select[Any] = select(literal_column("value")).select_from(
                func.json_each(bindparam(self.name))
            )
            return column.in_(values)
        return column.in_(bindparam(self.name, expanding=True))

    def params(self, keys: Sequence[Any]) -> dict[str, Any]:
        """The parameter value for ``keys``."""
        if self.dialect.name == "sqlite" and not self.composite:
            stored = [self._to_db(k) for k in keys] if self._to_db else list(keys)
            return {self.name: json.dumps(stored)}
        return {self.name: list(keys)}
