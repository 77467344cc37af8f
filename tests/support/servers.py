"""Throw-away Redis and S3 (moto in server mode) servers on loopback, for the test suite.

Both run as child processes on a free port of 127.0.0.1 and are stopped when the session
ends. ``./run test`` installs Debian's ``redis-server``; moto comes with the test extra.
Set ``LETHE_TEST_REDIS_URL`` or ``LETHE_TEST_S3_ENDPOINT`` to use servers you already have.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import free_port, stop_child

__all__ = ["S3_ENV", "moto_server", "redis_server"]

#: Credentials moto accepts (any will do); obstore and boto3 read them from the environment.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "lethe-test",
    "AWS_SECRET_ACCESS_KEY": "lethe-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _wait(ready: object, what: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{what} exited with {child.returncode}")
        try:
            if ready():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within 30 s")


@contextmanager
def redis_server() -> Iterator[str]:
    """Start ``redis-server`` without persistence; yield its URL."""
    external = os.environ.get("LETHE_TEST_REDIS_URL")
    if external:
        yield external
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found; run the README's test command (./run test)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="lethe-redis-"))
    child = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    try:
        _wait(ready, "redis-server", child)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_child(child)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server; yield its endpoint (``http://127.0.0.1:PORT``)."""
    external = os.environ.get("LETHE_TEST_S3_ENDPOINT")
    if external:
        yield external
        return
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as reply:
            return bool(reply.status == 200)

    try:
        _wait(ready, "moto server", child)
        yield endpoint
    finally:
        stop_child(child)
