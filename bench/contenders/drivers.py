"""Database drivers imported before a contender starts its clock.

Every contender times its run, not its start-up: Python imports happen before the clock. A
driver that SQLAlchemy (or Django) imports lazily, on the first connection, would otherwise
be imported inside it — ~0.04–0.1 s for psycopg, nothing next to a purge of 100k rows, but a
sixth of a run that drops a partition. The drivers are imported here, by the contenders that
use them, so that no other contender's peak RSS carries them.
"""

from collections.abc import Iterable

from sqlalchemy.engine import make_url

SQL_SCHEMES = ("postgresql", "mysql", "mariadb", "sqlite")


def import_drivers(urls: Iterable[str]) -> None:
    """Import the DBAPI module of each SQL database URL in ``urls`` (others are skipped)."""
    for url in urls:
        if url.split("://", 1)[0].split("+", 1)[0] in SQL_SCHEMES:
            make_url(url).get_dialect().import_dbapi()
