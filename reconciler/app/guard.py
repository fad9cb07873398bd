"""Cross-site defences in front of the whole service (webhook, API, metrics), as one ASGI layer.

Built by :func:`reconciler.app.http.create_app` around the webhook layer. Two checks, before
anything is routed or read:

- **Host** (DNS rebinding): a web page can point a name it controls at the service's address
  (127.0.0.1, or a cluster IP) and then read the answers as its own origin. Its requests carry
  that name in ``Host``, so only names the service knows to be its own are served:
  :class:`Hosts`. Refused with 421 (Misdirected Request).
- **Content type** (cross-site requests): a page may send a "simple" request to any origin
  without asking first (CORS preflight): a form, or ``fetch`` with a ``text/plain`` body or none.
  Every ``POST`` to a route that takes one must be ``Content-Type: application/json``, which a
  page can only send across sites after a preflight, which the service never grants (it sends
  no CORS headers). Refused with 415; a ``POST`` to any other path goes on to its 404 or 405.

- **Body size** (exhaustion): a control ``POST`` (approve, suspend, ...) carries a reason or a
  comment, and FastAPI would read a body whole before the route checks the token. The body is
  read here first, up to :data:`MAX_CONTROL_BODY`; past it, 413 and the connection closed. The
  webhook (``webhook_path``) keeps its own bounds (1 MiB, bytes in flight).

The Host and content-type refusals cost a scan of the request's headers: this layer is on the
webhook's hot path.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_CONTROL_BODY = 64 * 1024


@dataclass(frozen=True)
class Hosts:
    """The ``Host`` names the service answers to.

    - the names of ``allowed`` (``--allowed-hosts``; ``*`` accepts any);
    - ``localhost`` and loopback addresses, always: a DNS-rebinding page sends its own name,
      never these, and ``kubectl port-forward`` and a shell in the pod use them;
    - the listen address; when listening on every address (``0.0.0.0``, ``::``) any IP address,
      since the service cannot know which of its machine's (or pod's) addresses a client used.
      An address is never a rebinding: a page whose URL is an address is that address's origin.
      This is what lets kubelet probes and Prometheus, which send the pod IP, in with no setting.

    Ports are not compared: a Service or a port-forward changes the port, and rebinding is
    about the name.
    """

    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    allowed: frozenset[str]

    @classmethod
    def of(cls, listen: str, allowed: Iterable[str]) -> Hosts:
        """``listen``: the HOST:PORT served on; ``allowed``: host names, without ports."""
        address = _address(listen.rpartition(":")[0].strip("[]"))
        return cls(address, frozenset(normalize(name) for name in allowed))

    def accepts(self, header: str | None) -> bool:
        if "*" in self.allowed:
            return True
        if header is None:
            return True  # every browser sends Host: a request without one is no rebinding
        name = normalize(_without_port(header))
        if name in self.allowed or name in LOOPBACK_NAMES:
            return True
        address = _address(name)
        if address is None:
            return False
        if address.is_loopback or address == self.address:
            return True
        return self.address is not None and self.address.is_unspecified


def normalize(name: str) -> str:
    """A host name as compared: lower case, no trailing dot, no IPv6 brackets."""
    return name.strip().lower().rstrip(".").strip("[]")


def is_loopback(listen: str) -> bool:
    """Whether HOST:PORT serves this machine only (127.0.0.0/8 or ::1)."""
    address = _address(listen.rpartition(":")[0].strip("[]"))
    return address is not None and address.is_loopback


class Guard:
    """ASGI: refuses foreign ``Host`` names (421) and non-JSON ``POST`` bodies (415).

    ``posts``: the path patterns of the routes that take a ``POST``; the body of every one but
    ``webhook_path`` is held to :data:`MAX_CONTROL_BODY` (413). ``rejected(scope, status,
    detail)`` hears of each refusal of a ``POST`` to ``webhook_path`` (the webhook counts and
    logs its refusals, these included)."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: Hosts,
        posts: Iterable[re.Pattern[str]],
        webhook_path: str,
        rejected: Callable[[Scope, int, str], None] | None = None,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.posts = tuple(posts)
        self.webhook_path = webhook_path
        self.rejected = rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, content_type = None, None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if not self.hosts.accepts(host):
            detail = (
                f"this service does not answer to the host {host!r}: add it to --allowed-hosts "
                "(RECONCILER_ALLOWED_HOSTS) if it is one of its names"
            )
            self._tell(scope, 421, detail)
            await _refuse(send, 421, detail)
        elif scope["method"] != "POST" or not any(p.match(scope["path"]) for p in self.posts):
            await self.app(scope, receive, send)
        elif not is_json(content_type):
            # POST is the one writing method a page may send across sites unasked (PUT, PATCH
            # and DELETE always need a preflight; the API has none of them).
            detail = (
                "send the body as JSON with Content-Type: application/json (other types are "
                "refused so that no web page can post here from another site)"
            )
            self._tell(scope, 415, detail)
            await _refuse(send, 415, detail)
        elif scope["path"] == self.webhook_path:
            await self.app(scope, receive, send)
        else:
            await self._control(scope, receive, send)

    def _tell(self, scope: Scope, status: int, detail: str) -> None:
        if (
            self.rejected is not None
            and scope["path"] == self.webhook_path
            and scope["method"] == "POST"
        ):
            self.rejected(scope, status, detail)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A control ``POST``: its body read here, up to :data:`MAX_CONTROL_BODY`, then handed
        to the app as if it came from the client."""
        body = await _read_at_most(receive, MAX_CONTROL_BODY)
        if body is None:
            await _refuse(
                send,
                413,
                f"the body is larger than {MAX_CONTROL_BODY} bytes",
                close=True,
            )
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # what comes after the body: a disconnect
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None once it passes ``limit`` (the rest left unread; the
    connection is closed with the answer). A client that leaves gives an empty body: the app
    then hears the disconnect itself."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def is_json(content_type: str | None) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``)."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def _refuse(send: Send, status: int, detail: str, close: bool = False) -> None:
    # No CORS headers, ever: a refusal must not be readable by another site's page either.
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:  # rather than read the rest of a body nobody will use
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _without_port(header: str) -> str:
    if header.startswith("["):  # [::1]:8080
        return header[1:].partition("]")[0]
    name, colon, port = header.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else header


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
