"""The key digest of a partition about to be dropped, from key texts PostgreSQL builds.

The digest is defined on lethe's canonical key texts (:func:`lethe.model.keys.key_text`), in
key order, joined by a newline, UTF-8, SHA-256 (docs/partitions.md). Building 100k such texts in
Python costs ~1 s for a ``(bigint, timestamptz)`` key; PostgreSQL builds the same texts in a
fraction of that, so for the key types below the server sends them ready-made, in key order,
and Python only joins and hashes them (a partition of more than :data:`WHOLE` keys streamed:
its keys never sit in memory at once, whatever its size). Any other key type (``numeric``,
``char(n)``, an enum, a boolean) keeps the texts built in Python from the values, which is
slower but the same digest.

Each expression equals ``key_text`` of the value psycopg returns:

- integers: ``c::text``; ``text``/``varchar``: the value; ``uuid``: ``c::text`` (lowercase,
  hyphenated, like ``str(UUID)``); ``date``: ``c::text`` under ``DateStyle`` ISO;
- ``timestamp``: ``YYYY-MM-DD HH:MM:SS`` and ``.ffffff`` only when the microseconds are not
  zero, as Python's ``str(datetime)`` (PostgreSQL's own text trims the fraction's zeros);
- ``timestamptz``: the same, then the offset as Python writes it, ``+HH:MM`` (``:SS`` when
  the offset has seconds, as local mean times do), in the time zone psycopg converts to (the
  session's, or UTC when psycopg does not know the session's zone): the transaction sets its
  ``TimeZone`` to that zone;
- a composite key: the compact JSON array, integers as numbers, every other value a JSON
  string (``to_json`` escapes exactly what Python's ``json`` does with ``ensure_ascii=False``;
  the texts of uuids, dates and timestamps need no escaping and are only quoted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, Uuid
from sqlalchemy.engine import Connection
from sqlalchemy.sql.sqltypes import CHAR, Enum
from sqlalchemy.types import TypeEngine

from lethe.model.keys import key_text

__all__ = ["KeyDigest", "digest_keys", "key_text_sql"]

#: Rows fetched per round trip while streaming the key texts.
_CHUNK = 20_000
#: Up to this many keys, the texts come as one result, not through a server-side cursor (~10 MB
#: for a composite key: lethe's memory stays flat): a third faster than streaming them.
WHOLE = 250_000


class KeyDigest:
    """A running digest of key texts in key order, with the first and last of them."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.rows = 0
        self.first: str | None = None
        self.last: str | None = None

    def add(self, texts: Sequence[str]) -> None:
        """The next ``texts``, in key order."""
        if not texts:
            return
        joined = "\n".join(texts)
        self._hash.update((("\n" if self.rows else "") + joined).encode())
        self.first = texts[0] if self.first is None else self.first
        self.last, self.rows = texts[-1], self.rows + len(texts)

    def hexdigest(self) -> str:
        """SHA-256 of the texts so far, hex."""
        return self._hash.hexdigest()


def _timestamp(c: str, *, zone: bool) -> str:
    """Python's ``str(datetime)`` of the column ``c``: the common case (whole seconds, an
    offset of whole hours) from PostgreSQL's ISO text, which is cheap; the rest with
    ``to_char``."""
    iso = f"CAST({c} AS text)"
    if not zone:  # YYYY-MM-DD HH:MM:SS, 19 characters when there is no fraction
        exact = f"to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"
        return f"(CASE WHEN length({iso}) = 19 THEN {iso} ELSE {exact} END)"
    offset = f"extract(timezone FROM {c})"
    seconds = f"mod(CAST(abs({offset}) AS integer), 60)"
    slow = (
        f"to_char({c}, 'YYYY-MM-DD HH24:MI:SS') "
        f"|| CASE WHEN date_trunc('second', {c}) = {c} THEN '' ELSE to_char({c}, '.US') END "
        f"|| to_char({c}, 'TZH:TZM') "
        f"|| CASE WHEN {seconds} = 0 THEN '' ELSE ':' || lpad(CAST({seconds} AS text), 2, '0') END"
    )
    # 22 characters: whole seconds and an offset of whole hours ("+00"), which Python writes
    # "+00:00".
    return f"(CASE WHEN length({iso}) = 22 THEN {iso} || ':00' ELSE {slow} END)"


def _value_sql(c: str, type_: TypeEngine[Any]) -> tuple[str, str] | None:
    """The text of column ``c`` alone, and as a member of a composite key's JSON array (None:
    the type is not one the server can write as Python does)."""
    if isinstance(type_, Integer):
        text = f"CAST({c} AS text)"
        return text, text  # a number
    if isinstance(type_, String) and not isinstance(type_, CHAR | Enum):
        return c, f"CAST(to_json({c}) AS text)"
    # Digits, letters and ``-: .+`` (a uuid, "BC", "infinity"): nothing JSON escapes, so only
    # quoted; to_json cost a quarter of the digest of a (bigint, timestamptz) key.
    if isinstance(type_, Uuid | Date):
        text = f"CAST({c} AS text)"
    elif isinstance(type_, DateTime):
        text = _timestamp(c, zone=bool(type_.timezone))
    else:
        return None
    return text, f"'\"' || {text} || '\"'"


def key_text_sql(columns: Sequence[tuple[str, TypeEngine[Any]]]) -> str | None:
    """A SQL expression equal to ``key_text`` of the key made of ``columns`` (quoted names
    and their types), or None when one of them is of a type it does not cover."""
    parts = [_value_sql(name, type_) for name, type_ in columns]
    if any(p is None for p in parts):
        return None
    known = [p for p in parts if p is not None]
    if len(known) == 1:
        return known[0][0]
    return "'[' || " + " || ',' || ".join(member for _, member in known) + " || ']'"


def session_zone(conn: Connection) -> str | None:
    """The time zone psycopg converts ``timestamptz`` values to on ``conn`` (its key), or None
    when it is not a named zone (the server's texts could then differ from Python's)."""
    dbapi = conn.connection.dbapi_connection
    zone: tzinfo | None = getattr(getattr(dbapi, "info", None), "timezone", None)
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else None


def digest_keys(
    conn: Connection,
    table: str,
    columns: Sequence[tuple[str, TypeEngine[Any]]],
    rows_hint: int | None = None,
) -> KeyDigest:
    """The digest of ``table``'s keys (``columns``: quoted names and types), in key order.

    ``rows_hint`` (about how many rows the table has) up to :data:`WHOLE`: the texts come as
    one result (one round trip, no row objects); otherwise they are streamed."""
    digest = KeyDigest()
    quoted = [(f"{table}.{name}", _is_text(type_)) for name, type_ in columns]
    # Qualified: an output column named like a key column would otherwise be what sorts.
    order = ", ".join(f'{name} COLLATE "C"' if text else name for name, text in quoted)
    expression = key_text_sql(columns)
    zone = session_zone(conn) if expression is not None else None
    # Streamed through a server-side cursor: the statement's own option, not the connection's.
    streamed = {"yield_per": _CHUNK}
    if expression is None or zone is None:
        names = ", ".join(name for name, _ in columns)
        query = f"SELECT {names} FROM {table} ORDER BY {order}"
        for chunk in conn.exec_driver_sql(query, execution_options=streamed).partitions():
            digest.add([key_text(row[0] if len(columns) == 1 else tuple(row)) for row in chunk])
        return digest
    conn.exec_driver_sql(
        "SELECT set_config('DateStyle', 'ISO, YMD', true), set_config('TimeZone', %(zone)s, true)",
        {"zone": zone},
    )
    query = f"SELECT {expression} FROM {table} ORDER BY {order}"
    if rows_hint is not None and rows_hint <= WHOLE:
        # One result, read from the driver's cursor as plain tuples: no row objects, and no
        # server-side aggregate (string_agg and first/last subqueries cost a seventh more).
        # Only here: under ``yield_per`` SQLAlchemy has already fetched rows ahead of it.
        result = conn.exec_driver_sql(query)
        cursor = result.cursor
        assert cursor is not None
        try:
            while chunk := cursor.fetchmany(_CHUNK):
                digest.add([row[0] for row in chunk])
        finally:
            result.close()
        return digest
    for chunk in conn.exec_driver_sql(query, execution_options=streamed).partitions():
        digest.add([row[0] for row in chunk])
    return digest


def _is_text(type_: TypeEngine[Any]) -> bool:
    """Whether values of ``type_`` sort as text (then in byte order, ``COLLATE "C"``)."""
    try:
        return type_.python_type is str
    except NotImplementedError:
        return False
