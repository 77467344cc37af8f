"""What differs between SQL servers (lethe.stores.sql.dialects and .engine), on real servers:
row locks with and without SKIP LOCKED, deletes with and without RETURNING, MariaDB's TIMESTAMP
columns under a non-UTC server, and which driver a URL needs."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lethe import Lethe
from lethe.errors import ConfigError
from lethe.stores.registry import open_store
from lethe.stores.sql import dataset as sql_dataset
from lethe.stores.sql.dialects import SQLDialect, dialect_of
from lethe.stores.sql.engine import create_sql_engine
from tests.support.apps import NOW, engine_for, example_lethe, example_policy, keys, seeded
from tests.support.mariadb import SERVER_TIME_ZONE

#: Tokens due at ``expires_at``, purged, on the store at ``url``.
TOKENS = """
[stores.app]
url = "{url}"
[limits.breaker]
enabled = false
[datasets.tokens]
table = "tokens"
key = "id"
due_column = "expires_at"
[policies.expire]
dataset = "tokens"
[[policies.expire.actions]]
type = "purge"
"""


def _pretend(monkeypatch: pytest.MonkeyPatch, **traits: bool) -> None:
    """Bind datasets as if the server lacked a feature (an older MariaDB, MySQL)."""

    def weaker(engine: Engine) -> SQLDialect:
        return dataclasses.replace(dialect_of(engine), **traits)  # type: ignore[arg-type]

    monkeypatch.setattr(sql_dataset, "dialect_of", weaker)


def _holding_row_lock(engine: Engine, key: int, seconds: float) -> Callable[[], None]:
    """Lock one survey from another transaction for ``seconds``; returns a join function."""
    locked = threading.Event()

    def hold() -> None:
        with engine.connect() as conn, conn.begin():
            conn.execute(text(f"SELECT id FROM surveys_survey WHERE id = {key} FOR UPDATE"))
            locked.set()
            time.sleep(seconds)

    locker = threading.Thread(target=hold)
    locker.start()
    assert locked.wait(10)
    return locker.join


def test_without_skip_locked_a_batch_waits_for_the_lock_and_takes_the_row(
    mariadb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB before 10.6 and MySQL before 8.0.1 have plain ``FOR UPDATE`` only."""
    _pretend(monkeypatch, skip_locked=False)
    census, engine = seeded("census", mariadb_url)
    policy = example_policy("census") + "\n[limits]\nbatch_size = 1\n"
    join = _holding_row_lock(engine, 2, 1.0)
    with example_lethe("census", mariadb_url, tmp_path, policy) as lethe:
        assert not lethe.runtime.targets(None)[0].handle.skips_locked
        started = time.monotonic()
        result = lethe.run(as_of=NOW)
        waited = time.monotonic() - started
    join()
    assert result.ok and result.phases[1].acted == 2
    assert 2 not in keys(engine, census.surveys)
    assert waited >= 0.5  # it queued behind the lock rather than passing the row over


def test_a_cascade_counts_each_row_once_on_mariadb(mariadb_url: str, tmp_path: Path) -> None:
    """A note or a link between the two deleted accounts is one row: deleted once, counted once
    (with the first account in key order), as on every other server (tests/test_examples.py)."""
    seeded("therapy", mariadb_url)
    with example_lethe("therapy", mariadb_url, tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "hard_deleted"]
    assert result.ok
    purge = result.phases[-1]
    assert purge.cascade == {
        "check_ins": 2,
        "clinical_notes": 3,
        "crisis_plan": 1,
        "therapist_patients": 3,
        "user_consent": 2,
    }
    per_account = {e["item_key"][-4:]: e["details"]["cascade"] for e in events}
    assert per_account == {
        "a11c": {
            "check_ins": 2,
            "clinical_notes": 1,
            "crisis_plan": 1,
            "therapist_patients": 1,
            "user_consent": 1,
        },
        "0b0b": {"clinical_notes": 2, "therapist_patients": 2, "user_consent": 1},
    }


def test_timestamp_columns_are_compared_in_utc_whatever_the_server_zone(
    mariadb_url: str, tmp_path: Path
) -> None:
    """MariaDB converts ``TIMESTAMP`` values through the session's time zone; the test server
    runs at +05:30. An application writing local wall time 07:30 means 02:00 UTC."""
    assert SERVER_TIME_ZONE == "+05:30"
    app = engine_for(mariadb_url)
    with app.begin() as conn:
        conn.execute(text("CREATE TABLE tokens (id INT PRIMARY KEY, expires_at TIMESTAMP NULL)"))
        conn.execute(text("INSERT INTO tokens VALUES (1, '2024-10-26 07:30:00')"))  # 02:00 UTC
    policy = TOKENS.format(url=mariadb_url)
    with Lethe.from_toml(policy, base_dir=tmp_path, env={}) as lethe:
        assert lethe.plan(as_of=NOW - timedelta(seconds=1)).phases[0].keys == ()
        assert lethe.plan(as_of=NOW).phases[0].keys == (1,)


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("postgresql+psycopg2://app@db/app", "lethe-retention[postgres]"),
        ("mysql+mysqldb://app@db/app", "lethe-retention[mysql]"),
        ("mariadb+mariadbconnector://app@db/app", "lethe-retention[mysql]"),
    ],
)
def test_a_missing_driver_names_the_extra_that_brings_one(url: str, extra: str) -> None:
    with pytest.raises(ConfigError, match=r"no driver") as caught:
        create_sql_engine(url, where="stores.app.url")
    assert f'pip install "{extra}"' in caught.value.message
    assert "+pymysql://" in caught.value.message or "+psycopg://" in caught.value.message


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://app@db/app", "postgresql+psycopg"),
        ("mysql://app@db/app", "mysql+pymysql"),
        ("mariadb://app@db/app", "mariadb+pymysql"),
    ],
)
def test_a_url_without_a_driver_gets_the_one_lethe_installs(url: str, driver: str) -> None:
    engine = create_sql_engine(url, where="stores.app.url")
    assert engine.url.drivername == driver
    engine.dispose()


def test_a_database_lethe_does_not_support_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unsupported store URL") as caught:
        open_store("app", "mssql+pyodbc://app:secret@db/app")
    assert "secret" not in caught.value.message and "mysql" in caught.value.message


def test_the_state_database_is_refused_on_mariadb_saying_where_it_can_go(
    mariadb_url: str, tmp_path: Path
) -> None:
    policy = f'[state]\nurl = "{mariadb_url}"\n' + TOKENS.format(url=mariadb_url)
    with pytest.raises(ConfigError, match="SQLite or PostgreSQL") as caught:
        Lethe.from_toml(policy, base_dir=tmp_path, env={}).plan()
    assert caught.value.where == "lethe.toml: state.url"  # the file, then the key
    with engine_for(mariadb_url).connect() as conn:
        assert conn.execute(text("SHOW TABLES")).all() == []  # nothing created
