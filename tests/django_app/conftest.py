"""Fixtures of the shop test project: a migrated SQLite template made once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.django_app.shop import Shop


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's SQLite database after ``manage.py migrate``."""
    root = tmp_path_factory.mktemp("shop-template")
    shop = Shop(root, {"SHOP_DB": str(root / "template.db")})
    result = shop.manage("migrate", "-v0")
    assert result.code == 0, result.err
    return root / "template.db"


@pytest.fixture
def shop(tmp_path: Path, shop_template: Path) -> Shop:
    """A fresh SQLite copy of the shop."""
    return Shop.sqlite(tmp_path, shop_template)


@pytest.fixture
def pg_shop(tmp_path: Path, pg_url: str) -> Iterator[Shop]:
    """The shop migrated on a fresh PostgreSQL database, reached with a password."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    role, password = "shop_owner", "Sh0p-pw-never-printed"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.first() is None:
            conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        database = make_url(pg_url).database
        conn.execute(text(f"ALTER DATABASE {database} OWNER TO {role}"))
    admin.dispose()
    owned = make_url(pg_url).set(username=role, password=password)
    yield Shop.postgres(tmp_path, owned.render_as_string(hide_password=False))
