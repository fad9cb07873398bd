"""A local HTTP(S) server for the HTTP actions' tests: it records every request and answers
from a script the test writes (``http.server`` on ``127.0.0.1:0`` in a thread).

``keep_alive=True`` speaks HTTP/1.1 and keeps connections open, so a test can see whether the
client reused one (each request records the client's address).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] = ("", 0)  # the client's address: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``stall`` holds it back until the test ends."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stall: bool = False


class Peer:
    """A local HTTP(S) server that records requests and answers scripted replies in order."""

    def __init__(self, tls: ssl.SSLContext | None = None, *, keep_alive: bool = False) -> None:
        self.requests: list[Recorded] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self.released = threading.Event()
        handler = _KeepAliveHandler if keep_alive else _Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.peer = self  # type: ignore[attr-defined]
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits up to one interval (0.5s by default).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def next_reply(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if self._replies else Reply()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.released.set()  # let stalled handlers finish so server_close() can join them
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        peer: Peer = self.server.peer  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        request = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length),
            client=self.client_address[:2],
        )
        reply = peer.next_reply(request)
        if reply.stall:
            peer.released.wait(timeout=30)
        # The client may have given up (timeouts): a closed connection is not the test's failure.
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, [("Content-Type", "application/json")], json.dumps(value).encode())
