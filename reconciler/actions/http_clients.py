"""Pooled HTTP sessions for the HTTP-speaking actions (``http.request``, ``notify.*``,
``prometheus.query``).

A call used to build its own client: ~36 ms of CPU, most of it the SSL context, far more than a
request on a kept-alive connection. The engine owns one :class:`HttpClients` for its lifetime
(closed by ``Engine.close()``) and hands it to every action call in its
:class:`~reconciler.actions.spec.ActionContext`; :mod:`reconciler.actions.web` leases a session
from it for each call (:func:`lease`). Sessions are aiohttp's (its C parser costs ~0.5 ms of CPU
per request where httpx costs ~2.5 ms: docs/decisions/0005-http-client.md), one per setting
that is fixed when a session is built -- TLS verification, and the trust store the environment
names (``SSL_CERT_FILE``, ``SSL_CERT_DIR``; certifi's otherwise). Timeout, headers, body and the
proxy (``HTTP_PROXY``..., read per request: :func:`proxy`) go on the request.

A session is shared by every execution, so it keeps no cookies: a ``Set-Cookie`` from one call
must never ride along on another execution's request.

Sessions belong to the event loop they were built on. Leased from another loop (a caller that
runs several), the pool gives a session for that call alone, closed after it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a session is built: reading the catalogue needs neither
    import aiohttp

# No cap on connections: the engine's step slots (max_running_steps) bound the calls in flight.
# Idle connections go after a few seconds (servers close theirs after 5 s or more).
KEEPALIVE = 4.0

_Settings = tuple[bool, str | None, str | None]  # verify, SSL_CERT_FILE, SSL_CERT_DIR


def tls(verify: bool) -> ssl.SSLContext:
    """The trust store: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's."""
    import httpx

    return httpx.create_ssl_context(verify=verify, trust_env=True)


def build(*, verify: bool = True) -> aiohttp.ClientSession:
    """A session as the actions use it: no cookies kept, and ``trust_env`` off: with it aiohttp
    would also add ``~/.netrc`` credentials to requests for any host the file names (a step's
    URL must never borrow the service's credentials). Proxies come per request (:func:`proxy`).
    """
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ssl=tls(verify), keepalive_timeout=KEEPALIVE)
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


def proxy(url: str) -> str | None:
    """The proxy for a URL from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``,
    their lower-case forms), as curl and httpx read them; None for a direct connection."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


class HttpClients:
    """The sessions of one owner (the engine), built on first use and closed together."""

    def __init__(self) -> None:
        self._sessions: dict[_Settings, aiohttp.ClientSession] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self, *, verify: bool = True) -> aiohttp.ClientSession | None:
        """The shared session for these settings; None when called from another event loop
        than the one the pool's sessions live on."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            return None
        key = (verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        found = self._sessions.get(key)
        if found is None or found.closed:
            found = self._sessions[key] = build(verify=verify)
        return found

    def __len__(self) -> int:
        return len(self._sessions)

    async def aclose(self) -> None:
        """Close every session (their connections with them); the pool can be used again."""
        sessions, self._sessions, self._loop = list(self._sessions.values()), {}, None
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


@asynccontextmanager
async def lease(
    pool: HttpClients | None, *, verify: bool = True
) -> AsyncIterator[aiohttp.ClientSession]:
    """A session for one call: the pool's, or (no pool, another event loop) one of its own,
    closed after the call."""
    shared = pool.session(verify=verify) if pool is not None else None
    if shared is not None:
        yield shared
        return
    async with build(verify=verify) as alone:
        yield alone
