"""A counting reverse proxy in front of the S3 server: how many requests of each kind a
contender sent (ListObjectsV2, DeleteObjects, DeleteObject, …)."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def kind(method: str, path: str) -> str:
    """ListObjects for ``GET ?list-type=2``, DeleteObjects for ``POST ?delete``, …"""
    query = urlsplit(path).query
    if method == "GET" and "list-type" in query:
        return "ListObjectsV2"
    if method == "POST" and query.startswith("delete"):
        return "DeleteObjects"
    return {"DELETE": "DeleteObject", "HEAD": "HeadObject", "PUT": "PutObject"}.get(method, method)


@contextmanager
def counting_proxy(upstream: str) -> Iterator[tuple[str, Counter[str]]]:
    """Yield (the proxy's endpoint, the live request counter)."""
    target = urlsplit(upstream)
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            with lock:
                counts[kind(self.command, self.path)] += 1
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            conn.request(self.command, self.path, body, dict(self.headers))
            reply = conn.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            head = self.command == "HEAD"  # keep the object's length; there is no body
            for name, value in reply.getheaders():
                skip = ("transfer-encoding", "connection") + (() if head else ("content-length",))
                if name.lower() not in skip:
                    self.send_header(name, value)
            if not head:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()
