"""A dataset's ``where`` filters against its table's column types, before anything is read.

``{ column = "is_complete", equals = "banana" }`` on a boolean column would match no row on
SQLite and fail mid-run on PostgreSQL; it is refused when the dataset is bound (``lethe check``
and every run), naming the filter.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Sequence

from sqlalchemy import Table

from lethe.config.datasets import RowFilter
from lethe.errors import LiveCheckError
from lethe.model.conditions import Scalar

__all__ = ["check_filter_types"]

#: Python type of a column → (what to call it, the TOML values that can match it).
_ACCEPTS: dict[type, tuple[str, tuple[type, ...]]] = {
    bool: ("a boolean", (bool,)),
    int: ("an integer", (int,)),  # bool is an int: true/false match 1/0
    float: ("a number", (int, float)),
    decimal.Decimal: ("a number", (int, float)),
    str: ("a text", (str,)),
    uuid.UUID: ("a UUID", (str,)),
    dt.datetime: ("a timestamp", (str,)),
    dt.date: ("a date", (str,)),
}


def _values(row_filter: RowFilter) -> list[Scalar]:
    fields = row_filter.model_fields_set
    if "equals" in fields:
        return [row_filter.equals]
    if "not_equals" in fields:
        return [row_filter.not_equals]
    if "in_" in fields:
        return list(row_filter.in_ or ())
    if "not_in" in fields:
        return list(row_filter.not_in or ())
    return []


def _kind(value: Scalar) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def check_filter_types(table: Table, filters: Sequence[RowFilter], where: str) -> None:
    """Refuse a filter value that no value of its column can equal."""
    for index, row_filter in enumerate(filters):
        column = table.c.get(row_filter.column)
        if column is None:
            continue  # a missing column is reported by the policy's column check
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            continue
        accepted = _ACCEPTS.get(python_type)
        if accepted is None:
            continue
        name, types = accepted
        for value in _values(row_filter):
            if value is None:
                continue
            # true/false may match an integer column: MySQL's BOOLEAN is TINYINT(1).
            if not isinstance(value, types):
                raise LiveCheckError(
                    f"{value!r} ({_kind(value)}) can never equal {table.name}.{column.name}, "
                    f"{name} column: give a value of its type",
                    f"{where}.where[{index}]",
                )
