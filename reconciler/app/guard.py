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

Both refusals cost a scan of the request's headers: this layer is on the webhook's hot path.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


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

    ``posts``: the path patterns of the routes that take a ``POST``."""

    def __init__(self, app: ASGIApp, hosts: Hosts, posts: Iterable[re.Pattern[str]]) -> None:
        self.app = app
        self.hosts = hosts
        self.posts = tuple(posts)

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
            await _refuse(
                send,
                421,
                f"this service does not answer to the host {host!r}: add it to --allowed-hosts "
                "(RECONCILER_ALLOWED_HOSTS) if it is one of its names",
            )
        elif (
            scope["method"] == "POST"
            and not is_json(content_type)
            and any(p.match(scope["path"]) for p in self.posts)
        ):
            # POST is the one writing method a page may send across sites unasked (PUT, PATCH
            # and DELETE always need a preflight; the API has none of them).
            await _refuse(
                send,
                415,
                "send the body as JSON with Content-Type: application/json (other types are "
                "refused so that no web page can post here from another site)",
            )
        else:
            await self.app(scope, receive, send)


def is_json(content_type: str | None) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``)."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def _refuse(send: Send, status: int, detail: str) -> None:
    # No CORS headers, ever: a refusal must not be readable by another site's page either.
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
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
