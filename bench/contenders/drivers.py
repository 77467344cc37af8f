"""Database drivers imported before a contender starts its clock.

Every contender times its run, not its start-up: Python imports happen before the clock. A
driver that SQLAlchemy (or Django) imports lazily, on the first connection, would otherwise
be imported inside it — ~0.04–0.1 s for psycopg, nothing next to a purge of 100k rows, but a
sixth of a run that drops a partition. The drivers are imported here, by the contenders that
use them, so that no other contender's peak RSS carries them.
"""

from sqlalchemy.engine import make_url

from lethe import Lethe

SQL_SCHEMES = ("postgresql", "mysql", "mariadb", "sqlite")


def import_drivers(lethe: Lethe) -> None:
    """Import the DBAPI module of each of the policy's SQL stores (other stores are skipped)."""
    for store in lethe.settings.config.stores.values():
        if store.url.split("://", 1)[0].split("+", 1)[0] in SQL_SCHEMES:
            make_url(store.url).get_dialect().import_dbapi()
