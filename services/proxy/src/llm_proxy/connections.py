"""Client connections that cannot be held open for nothing: a cap on how many, and time limits on
the parts a client controls.

aiohttp reads a request's headers and body for as long as a client cares to send them, and keeps
a connection on which nothing was ever sent open forever: a few hundred slow or idle sockets
exhausted the process's file limit. Each connection is wrapped in a `ConnectionGuard` that
delegates everything to aiohttp's own protocol and keeps one timer:

- from the moment the connection opens, the first request's headers must be complete within
  `header_timeout`;
- after a response, the connection may sit idle for `keepalive_timeout`; once the next request's
  first bytes arrive, its headers must be complete within `header_timeout`;
- while a request is handled there is no timer here: `read_body()` bounds a body to
  `body_timeout`, and answers take as long as their upstream.

A connection over `max_connections` gets a 503 and is closed at once. A guard learns that a
request's headers are complete, and that its response is done, from `connection_middleware`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from .errors import Handler

log = logging.getLogger("llm_proxy.connections")

REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0
    max_connections: int = 4096


class Connections:
    """Every open client connection's guard, by transport (the middleware finds its own)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._protocol: Callable[[], asyncio.Protocol] | None = None
        self.guards: dict[Any, ConnectionGuard] = {}
        self.refused = 0
        self.timed_out = 0

    def bind(self, protocol: Callable[[], asyncio.Protocol]) -> None:
        """aiohttp's protocol factory (the runner's server), known once the runner is set up."""
        self._protocol = protocol

    def __call__(self) -> ConnectionGuard:
        """A protocol for a new connection (the listening server's factory)."""
        assert self._protocol is not None, "bind() first"
        return ConnectionGuard(self, self._protocol())


class ConnectionGuard(asyncio.Protocol):
    def __init__(self, connections: Connections, inner: asyncio.Protocol) -> None:
        self._connections = connections
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle = False  # between requests, before the next one's first byte
        self._refused = False

    # -- asyncio.Protocol, delegated --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, though they have its methods.
        transport = cast(asyncio.Transport, transport)
        connections = self._connections
        if len(connections.guards) >= connections.limits.max_connections:
            self._refused = True
            connections.refused += 1
            transport.write(REFUSED)
            transport.close()
            return
        self._transport = transport
        connections.guards[transport] = self
        self._inner.connection_made(transport)
        self._arm(connections.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._idle:  # the next request began: its headers have header_timeout from now
            self._idle = False
            self._arm(self._connections.limits.header_timeout)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._refused:
            return
        self._connections.guards.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- what the middleware tells ------------------------------------------------------------
    def request_started(self) -> None:
        self._idle = False
        self._cancel()

    def request_finished(self) -> None:
        self._idle = True
        self._arm(self._connections.limits.keepalive_timeout)

    # -- the timer ----------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._connections.timed_out += 1
            self._transport.close()


CONNECTIONS = web.AppKey("connections", Connections)  # set by lifecycle.serve(); absent under a test server


@web.middleware
async def connection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    connections = request.app.get(CONNECTIONS)
    guard = connections.guards.get(request.transport) if connections is not None else None
    if guard is None:
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_finished()


def file_limit_for(max_connections: int, reserve: int = 256) -> int:
    """Raise the soft open-files limit so that `max_connections` clients (each with an upstream
    connection) fit; return how many connections fit under the limit there is."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to manage
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * max_connections + reserve
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    fits = max(1, (soft - reserve) // 2)
    log.warning(
        "the open-files limit (%d) fits %d client connections, not LLM_PROXY_MAX_CONNECTIONS=%d: capping at %d",
        soft,
        fits,
        max_connections,
        fits,
    )
    return fits
