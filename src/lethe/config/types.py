"""Pydantic field types shared by the policy-file models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from lethe.config.durations import Duration, parse_duration

__all__ = ["SQL_NAME", "DurationField", "FieldName", "Identifier", "ModelName", "SqlName"]


def _to_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '30d', '24 months' or '30m'")
    return parse_duration(value)


DurationField = Annotated[
    Duration,
    BeforeValidator(_to_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A duration: '30d', '24 months', '14d', '30m' (minutes), '1h30m'.",
            "examples": ["30d", "24 months", "30m"],
        }
    ),
]

# Names of policies, datasets and stores end up in file names, metrics and Kubernetes objects.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]

SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def _sql_name(value: Any) -> str:
    if not isinstance(value, str) or not SQL_NAME.match(value):
        raise ValueError(f"{value!r} is not a plain SQL identifier (letters, digits, _)")
    return value


# Table and column names are checked against the live schema too (``lethe check``); this guard
# keeps anything that is not a bare identifier out of the file before it reaches a store.
SqlName = Annotated[str, BeforeValidator(_sql_name)]

# A field of a non-SQL item: a blob's ``last_modified`` or ``metadata.created-at``, a Redis hash
# field such as ``createdAt``, or a store fact such as ``@idle_since``. Datasets over tables
# narrow these to SQL identifiers.
FieldName = Annotated[str, Field(pattern=r"^@?[A-Za-z_][A-Za-z0-9_$.:-]{0,127}$")]

_MODEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"


def _model_name(value: Any) -> Any:
    # Said before the pattern is checked: pydantic's own message would quote the regex.
    if isinstance(value, str) and not re.match(_MODEL_NAME, value):
        raise ValueError("must be app_label.ModelName, e.g. surveys.Survey")
    return value


# A framework's model as ``app_label.ModelName`` (Django's ``apps.get_model`` form).
ModelName = Annotated[str, Field(pattern=_MODEL_NAME), BeforeValidator(_model_name)]
