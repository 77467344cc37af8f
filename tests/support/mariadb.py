"""A throw-away MariaDB server on loopback, for the test suite.

``mariadb-install-db`` makes a data directory in a temporary folder and ``mariadbd`` serves it
on a free port of 127.0.0.1 with durability off (a crash of the test server loses nothing of
value). As root (CI), the server runs as Debian's ``mysql`` user or a ``lethe-test`` user
created here, like the PostgreSQL helper. The server's own time zone is deliberately not UTC,
so a test passes only if lethe does not depend on it. Set ``LETHE_TEST_MARIADB_URL`` (a
``mysql+pymysql://`` URL of a user allowed to create databases) to use a server you have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import free_port, server_user, stop_child

__all__ = ["SERVER_TIME_ZONE", "mariadb_server"]

#: The server's time zone: a whole-day shift away from UTC would hide nothing, +05:30 does.
SERVER_TIME_ZONE = "+05:30"

# Speed over durability, and a small footprint: the suite's tables hold a few thousand rows.
_FAST = [
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--skip-log-bin",
    "--skip-performance-schema",
    "--max-connections=300",
    "--character-set-server=utf8mb4",
]


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(
            f"{name} not found; run the README's test command (./run test), "
            "which installs Debian's mariadb-server package"
        )
    return found


@contextmanager
def mariadb_server() -> Iterator[str]:
    """Start a server; yield a URL of its ``root`` user (no database); stop and remove it."""
    external = os.environ.get("LETHE_TEST_MARIADB_URL")
    if external:
        yield external
        return
    install_db, mariadbd = _binary("mariadb-install-db"), _binary("mariadbd")
    user = server_user(("mysql", "lethe-test"))
    root = Path(tempfile.mkdtemp(prefix="lethe-mariadb-"))
    data, socket_path, init = root / "data", root / "mariadb.sock", root / "init.sql"
    # root@localhost authenticates by socket only; the tests connect over TCP.
    init.write_text(
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n"
        "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
    )
    as_user = [f"--user={user.pw_name}"] if user else []
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chown(init, user.pw_uid, user.pw_gid)
    subprocess.run(
        [install_db, "--no-defaults", f"--datadir={data}", "--skip-test-db", *as_user],
        check=True,
        capture_output=True,
        cwd=root,
    )
    port = free_port()
    child = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={socket_path}",
            f"--pid-file={root / 'mariadb.pid'}",
            f"--log-error={root / 'error.log'}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--port={port}",
            f"--init-file={init}",
            f"--default-time-zone={SERVER_TIME_ZONE}",
            *_FAST,
            *as_user,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
    )
    url = f"mysql+pymysql://root@127.0.0.1:{port}/"
    try:
        _wait_ready(port, child, root / "error.log")
        yield url
    finally:
        stop_child(child, grace=30)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(port: int, child: subprocess.Popen[bytes], log: Path) -> None:
    import pymysql

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"mariadbd exited with {child.returncode}:\n{tail}")
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
            return
        except pymysql.err.OperationalError:
            time.sleep(0.1)
    raise RuntimeError("mariadbd did not accept connections within 60 s")
