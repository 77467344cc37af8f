"""What the figures were measured on: printed with every result."""

from __future__ import annotations

import os
import platform
import sqlite3
from typing import Any

from sqlalchemy import create_engine, text

PG_SETTINGS = [
    "server_version",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
]


def describe(pg_url: str | None) -> dict[str, Any]:
    """Machine, Python, SQLite and PostgreSQL facts."""
    with open("/proc/cpuinfo") as cpuinfo:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info: dict[str, Any] = {
        "machine": f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    if pg_url:
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            info["postgresql"] = {
                name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in PG_SETTINGS
            }
        engine.dispose()
    return info
