"""Real servers on loopback for the HTTP tests: uvicorn serving lethe, and a tiny HTTP server
that serves a JWKS document or records the requests it gets (dead-man pings)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a loopback port; yield its base URL; shut it down gracefully."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


class Recorder:
    """Requests received, as (method, path) pairs."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.document: dict[str, Any] = {}
        self.lock = threading.Lock()


@contextmanager
def http_server(recorder: Recorder) -> Iterator[str]:
    """A server answering every GET with ``recorder.document`` and recording every request."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            with recorder.lock:
                recorder.requests.append((self.command, self.path))
                body = json.dumps(recorder.document).encode()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
