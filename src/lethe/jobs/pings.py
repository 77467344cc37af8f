"""Dead-man pings, Healthchecks-style: ``URL/start`` when a run starts, ``URL`` on success,
``URL/fail`` on failure. Sent from a background thread with a short timeout; a ping that fails
is logged and never fails or delays the run."""

from __future__ import annotations

import logging
import threading
import urllib.request

from lethe import secrets

__all__ = ["Pinger"]

log = logging.getLogger("lethe.jobs")


class Pinger:
    """Sends pings without waiting for them."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, url: str | None) -> None:
        """The run started."""
        self._send(url, "/start")

    def finish(self, url: str | None, ok: bool) -> None:
        """The run ended, well or not."""
        self._send(url, "" if ok else "/fail")

    def wait(self, timeout: float = 10.0) -> None:
        """Wait for pings in flight (on shutdown, and in tests)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)

    def _send(self, url: str | None, suffix: str) -> None:
        if not url:
            return
        target = url.rstrip("/") + suffix
        thread = threading.Thread(target=self._post, args=(target,), daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _post(self, target: str) -> None:
        request = urllib.request.Request(target, data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                reply.read()
        except Exception as exc:  # a ping must never fail the run
            log.warning(
                "dead-man ping %s failed: %s", secrets.scrub(target), secrets.scrub(str(exc))
            )
