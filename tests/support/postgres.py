"""A throw-away PostgreSQL server on loopback, for the test suite.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the
``postgres`` system user (created by Debian's package) or a ``lethe-test`` user created here.
Set ``LETHE_TEST_POSTGRES_URL`` to use a server you already have instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["free_port", "postgres_server", "server_user"]


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found; run the README's test command "
        "(./run test), which installs Debian's postgresql package"
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_child(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Ask ``child`` to stop (SIGTERM), and kill it if it has not within ``grace`` seconds: a
    moto server holding 100k objects can take longer than that to exit, and a server that does
    not stop must not turn the end of a test session or a bench run into a failure."""
    child.terminate()
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(10)


def server_user(names: tuple[str, ...] = ("postgres", "lethe-test")) -> pwd.struct_passwd | None:
    """The first existing of ``names`` to run a server as, else a ``lethe-test`` system user
    created here (None: we are not root, the server runs as us)."""
    if os.geteuid() != 0:
        return None
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "lethe-test"], check=True)
    return pwd.getpwnam("lethe-test")


@contextmanager
def postgres_server(
    *, durable: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database; stop and remove it.

    Tests run without fsync (fast, and a crash of the test server loses nothing of value);
    benchmarks pass ``durable=True`` to measure with PostgreSQL's default durability.
    ``settings`` are extra server settings (``shared_preload_libraries``…); a server started
    with them is always this helper's own, never ``LETHE_TEST_POSTGRES_URL``.
    """
    external = os.environ.get("LETHE_TEST_POSTGRES_URL")
    if external and not settings:
        yield external
        return
    bindir = _bindir()
    user = server_user()
    root = Path(tempfile.mkdtemp(prefix="lethe-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chown(sockets, user.pw_uid, user.pw_gid)
    run_as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=root,
        **run_as,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    for key, value in (settings or {}).items():
        options += f" -c {key}={value}"
    subprocess.run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=root,
        **run_as,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
            cwd=root,
            **run_as,
        )
        shutil.rmtree(root, ignore_errors=True)
