"""Pooled HTTP clients for the HTTP-speaking actions (``http.request``, ``notify.*``,
``prometheus.query``).

Building an ``httpx.AsyncClient`` costs ~36 ms of CPU (most of it the SSL context), far more than
a request on a kept-alive connection. The engine owns one :class:`HttpClients` for its lifetime
(closed by ``Engine.close()``) and hands it to every action call in its
:class:`~reconciler.actions.spec.ActionContext`; :mod:`reconciler.actions.web` leases a client
from it for each call (:func:`lease`). Clients are keyed by what is fixed when a client is built
-- TLS verification, and the environment httpx reads then (proxy variables, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``) -- and by the origin called. Timeout, headers and body go on the request.

Each key has one SSL context, shared by its clients (so another client costs ~0.2 ms), and as
many clients as calls in flight need, each serving at most :data:`PER_CLIENT` calls at once:
httpcore's connection pool does work quadratic in its connections on every request (~6 ms of
CPU per call at 100 concurrent calls on one client, ~2 ms spread over clients of 1 to 4). No call
waits for another. A client unused for :data:`IDLE_CLIENT` seconds is closed, so a service that
once called many hosts does not keep their sockets.

A pooled client is shared by every execution, so it keeps no cookies: a ``Set-Cookie`` from one
call must never ride along on another execution's request.

Clients belong to the event loop they were built on. Leased from another loop (a caller that
runs several), the pool gives a client for that call alone, closed after it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx

# What httpx reads from the environment when it builds a client (trust_env=True).
_ENVIRONMENT = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
PER_CLIENT = 2  # calls in flight on one client before the next call takes another
IDLE_CLIENT = 60.0  # seconds unused before a client (and its connections) is closed
# No cap on connections: the engine's step slots (max_running_steps) bound the calls in flight.
# Idle connections go after a few seconds (servers close theirs after 5 s or more).
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=4.0)

_Settings = tuple[bool, tuple[str | None, ...]]  # verify, the environment httpx reads


def build(*, verify: bool | ssl.SSLContext = True) -> httpx.AsyncClient:
    """A client as the actions use it: no redirects followed, no cookies kept."""
    return httpx.AsyncClient(
        verify=verify,
        follow_redirects=False,
        limits=LIMITS,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


@dataclass(eq=False)
class _Slot:
    client: httpx.AsyncClient
    calls: int = 0  # in flight now
    used: float = 0.0  # time.monotonic() of the last lease


class HttpClients:
    """The clients of one owner (the engine), built on first use and closed together."""

    def __init__(self) -> None:
        self._tls: dict[_Settings, ssl.SSLContext] = {}
        self._slots: dict[tuple[_Settings, str], list[_Slot]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._swept = time.monotonic()

    def take(self, url: str, verify: bool) -> _Slot | None:
        """A client for a call to ``url``, counted as busy until :meth:`give_back`; None when
        called from another event loop than the pool's."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            return None
        settings = (verify, tuple(os.environ.get(name) for name in _ENVIRONMENT))
        parts = urlsplit(url)
        slots = self._slots.setdefault((settings, f"{parts.scheme}://{parts.netloc}"), [])
        now = time.monotonic()
        for slot in slots:
            if slot.calls < PER_CLIENT:
                break
        else:
            tls = self._tls.get(settings)
            if tls is None:
                tls = self._tls[settings] = httpx.create_ssl_context(verify=verify)
            slot = _Slot(build(verify=tls))
            slots.append(slot)
        slot.calls += 1
        slot.used = now
        return slot

    @staticmethod
    def give_back(slot: _Slot) -> None:
        slot.calls -= 1

    async def sweep(self) -> None:
        """Close the clients left unused for :data:`IDLE_CLIENT` seconds (at most every few)."""
        now = time.monotonic()
        if now - self._swept < IDLE_CLIENT / 4:
            return
        self._swept = now
        idle = []
        for key, slots in list(self._slots.items()):
            keep = [s for s in slots if s.calls or now - s.used < IDLE_CLIENT]
            idle += [s for s in slots if s not in keep]
            if keep:
                self._slots[key] = keep
            else:
                del self._slots[key]
        await asyncio.gather(*(s.client.aclose() for s in idle), return_exceptions=True)

    @property
    def size(self) -> int:
        """How many clients are open (for tests and benchmarks)."""
        return sum(len(slots) for slots in self._slots.values())

    async def aclose(self) -> None:
        """Close every client (their connections with them); the pool can be used again after."""
        slots = [slot for found in self._slots.values() for slot in found]
        self._slots, self._loop = {}, None
        await asyncio.gather(*(s.client.aclose() for s in slots), return_exceptions=True)


@asynccontextmanager
async def lease(
    pool: HttpClients | None, url: str, *, verify: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for one call to ``url``: the pool's, or (no pool, another event loop) one of
    its own, closed after the call."""
    slot = pool.take(url, verify) if pool is not None else None
    if pool is None or slot is None:
        async with build(verify=verify) as alone:
            yield alone
        return
    try:
        yield slot.client
    finally:
        pool.give_back(slot)
    await pool.sweep()
