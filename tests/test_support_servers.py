"""The test setup's own servers stop at the end, whatever they do with SIGTERM: the bench's
moto server, holding 100k objects, outlived the ten seconds it was given and the bench died on
``TimeoutExpired`` after measuring, its S3 figures and the Redis scenario lost."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.postgres import stop_child

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "time.sleep(60)\n"
)


def test_a_child_that_ignores_sigterm_is_killed_after_its_grace() -> None:
    child = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE)
    assert child.stdout is not None
    with child.stdout:
        assert child.stdout.readline() == b"ready\n"
        started = time.monotonic()
        stop_child(child, grace=0.5)
    assert child.returncode is not None and child.returncode < 0  # killed, not exited
    assert time.monotonic() - started < 10


def test_a_child_that_stops_on_sigterm_is_not_killed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_child(child, grace=10)
    assert child.returncode == -15
