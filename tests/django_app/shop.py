"""Driving the shop test project (tests/django_app/project) as its operators would: through
``python manage.py`` in a child process, so each test gets its own Django settings (one
process can configure Django only once, and tests/django has its own project)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.mail import free_port

__all__ = [
    "AS_OF",
    "POLICY",
    "PROJECT",
    "Result",
    "Shop",
    "lethe_serve_argv",
    "serving",
    "uvicorn_argv",
]

PROJECT = Path(__file__).parent / "project"
AS_OF = "2024-10-26T02:00:00Z"

#: Customers whose account closed more than 30 days ago are deleted with their orders.
POLICY = """
[state]
url = "{state}"

[stores.default]
url = "{store}"

[datasets.customers]
table = "shop_customer"
key = "id"
age_column = "closed_at"
retain = "30d"
cascade = "auto"
no_action = "cascade"

[policies.closed-accounts]
dataset = "customers"

[[policies.closed-accounts.actions]]
type = "purge"
"""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass
class Shop:
    """One migrated copy of the shop's database and its policy file, in ``root``."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def sqlite(cls, root: Path, template: Path) -> Shop:
        shutil.copy(template, root / "shop.db")
        return cls(root, {"SHOP_DB": str(root / "shop.db")})

    @classmethod
    def postgres(cls, root: Path, url: str) -> Shop:
        parsed = make_url(url)
        env = {
            "SHOP_PG_NAME": str(parsed.database),
            "SHOP_PG_USER": str(parsed.username),
            "SHOP_PG_PASSWORD": parsed.password or "",
            "SHOP_PG_HOST": str(parsed.host),
            "SHOP_PG_PORT": str(parsed.port),
        }
        shop = cls(root, env)
        assert shop.manage("migrate", "-v0").code == 0
        return shop

    @property
    def url(self) -> str:
        """The shop database's URL, as a policy file without Django would name it."""
        if "SHOP_DB" in self.env:
            return f"sqlite:///{self.env['SHOP_DB']}"
        e = self.env
        return (
            f"postgresql://{e['SHOP_PG_USER']}:{e['SHOP_PG_PASSWORD']}@{e['SHOP_PG_HOST']}:"
            f"{e['SHOP_PG_PORT']}/{e['SHOP_PG_NAME']}"
        )

    def policy(self, text_: str, name: str = "lethe.toml") -> Path:
        path = self.root / name
        path.write_text(text_, encoding="utf-8")
        self.env["SHOP_LETHE_CONFIG"] = str(path)
        return path

    def seed(self) -> None:
        """1 closed long ago (two orders), 2 closed yesterday, 3 open; instants written as
        Django writes them (naive UTC text on SQLite, ``timestamptz`` on PostgreSQL)."""
        utc = "" if "SHOP_DB" in self.env else "+00"
        engine = create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO shop_customer (id, name, email, closed_at) VALUES "
                    f"(1, 'Ada', 'ada@example.com', '2024-01-01 00:00:00{utc}'), "
                    f"(2, 'Bo', 'bo@example.com', '2024-10-25 00:00:00{utc}'), "
                    "(3, 'Cy', 'cy@example.com', NULL)"
                )
            )
            conn.execute(
                text("INSERT INTO shop_order (customer_id, total) VALUES (1, 10), (1, 20), (2, 5)")
            )
        engine.dispose()

    def seed_with_django(self) -> None:
        """The same rows through the ORM (the oracle that :meth:`seed` writes Django's form)."""
        result = self.script(
            "from datetime import datetime, UTC\n"
            "from shop.models import Customer, Order\n"
            "a = Customer.objects.create(id=1, name='Ada', email='ada@example.com',"
            " closed_at=datetime(2024, 1, 1, tzinfo=UTC))\n"
            "b = Customer.objects.create(id=2, name='Bo', email='bo@example.com',"
            " closed_at=datetime(2024, 10, 25, tzinfo=UTC))\n"
            "Customer.objects.create(id=3, name='Cy', email='cy@example.com')\n"
            "Order.objects.bulk_create([Order(customer=a, total=10), Order(customer=a, total=20),"
            " Order(customer=b, total=5)])\n"
        )
        assert result.code == 0, result.err

    def rows(self, table: str, columns: str = "*") -> list[tuple[object, ...]]:
        engine = create_engine(self.url)
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1"))
            rows = [tuple(r) for r in found]
        engine.dispose()
        return rows

    def _run(self, argv: list[str], extra: dict[str, str] | None = None) -> Result:
        env = {**os.environ, "COLUMNS": "200", **self.env, **(extra or {})}
        env.pop("LETHE_CONFIG", None)
        done = subprocess.run(
            argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=120
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def manage(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """``python manage.py ARGS`` in the project."""
        return self._run([sys.executable, str(PROJECT / "manage.py"), *args], env)

    def lethe(self, *args: str) -> Result:
        """The plain ``lethe`` CLI in the same folder, without Django."""
        return self._run([sys.executable, "-m", "lethe", *args])

    def script(self, code: str) -> Result:
        """``code`` run inside the configured project (``manage.py shell -c``)."""
        return self.manage("shell", "-c", code)


@contextmanager
def serving(shop: Shop, argv: list[str], probe: str) -> Iterator[str]:
    """``argv`` (a server on ``{port}``) running in ``shop.root`` until the block ends; the
    base URL once ``probe`` answers."""
    port = free_port()
    env = {**os.environ, **shop.env}
    env.pop("LETHE_CONFIG", None)
    process = subprocess.Popen(
        [a.format(port=port) for a in argv],
        cwd=shop.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + probe, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"no server: {process.communicate()[1]}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def uvicorn_argv() -> list[str]:
    """The project's ASGI application (lethe mounted under /lethe) served by uvicorn."""
    return [
        sys.executable, "-m", "uvicorn", "shopsite.asgi:application",
        "--app-dir", str(PROJECT), "--host", "127.0.0.1", "--port", "{port}",
        "--log-level", "warning",
    ]  # fmt: skip


def lethe_serve_argv(config: str) -> list[str]:
    return [sys.executable, "-m", "lethe", "--config", config, "serve", "--port", "{port}"]
