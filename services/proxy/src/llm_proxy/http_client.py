"""The proxy's upstream HTTP/1.1 client: a keep-alive connection pool per origin, parsed by httptools.

Why not aiohttp's ClientSession (the proxy's first upstream caller): measured on the 2-core CI
machine, one ClientSession request costs about 330 µs of CPU, more than the rest of the proxy
put together, which alone broke the 0.5 ms added-latency goal (see the README's Performance
section). The proxy needs a narrow slice of HTTP/1.1, done here on a bare asyncio protocol:
POST a body of known length (or GET, for a model look-up) to one origin, read the answer
(Content-Length, chunked, or until the connection closes) whole or as it arrives, and keep the
connection for the next request when the answer was read to its end.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping

import httptools
from multidict import CIMultiDict
from yarl import URL

from .egress import EgressProxy, EgressRules, connect, connect_reason

# Idle connections are dropped before common servers' keep-alive timeouts (nginx 75 s, aiohttp
# 75 s, many cloud load balancers 60 s), so a reused connection is rarely one the server closed.
KEEPALIVE_SECONDS = 15.0
READ_HIGH_WATER = 256 * 1024  # pause reading from the upstream when the client is this far behind


class UpstreamConnectError(OSError):
    """No connection could be opened (refused, name not found, TLS failure)."""


class UpstreamConnectTimeout(UpstreamConnectError):
    """No connection within the connect timeout."""


class UpstreamDisconnected(ConnectionError):
    """The connection closed before the response headers arrived."""


class UpstreamBodyError(Exception):
    """The response broke off before its end, or was not valid HTTP."""


class SendProgress:
    """How far one request got: `sent` once its bytes went out on a connection the server may have
    read them from (not a pooled connection the server had already closed). A call that fails
    after that may have been processed, and billed, upstream."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


class Response:
    """One upstream response: `status` and `headers` once returned by `Origin.post`, then the body
    through `readany()` / `read()`. Call `release()` after reading to the end (the connection goes
    back to the pool), or `close()` to drop the connection; both are idempotent."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        loop = asyncio.get_running_loop()
        self._headers_ready: asyncio.Future[None] = loop.create_future()
        self._raw_headers: list[tuple[str, str]] = []
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.received = False  # any byte of the response arrived
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: Exception | None = None
        self._keep_alive = False
        self._until_close = False
        self._finished = False

    # -- reading ------------------------------------------------------------------------------
    async def readany(self) -> bytes:
        """The bytes received since the last call, waiting for some; b"" at the end of the body.
        Raises UpstreamBodyError when the body broke off (after handing out what did arrive)."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        if self._buffered > READ_HIGH_WATER and not self._connection.closed:
            self._connection.transport.resume_reading()
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        if self._finished:
            return
        self._finished = True
        connection = self._connection
        if self._complete and self._keep_alive and self._error is None and not connection.closed:
            connection.pool.put_back(connection)
        else:
            connection.close()

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            self._connection.close()

    # -- fed by the connection ----------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _on_headers(self, status: int, keep_alive: bool) -> None:
        self.status = status
        self.headers = CIMultiDict(self._raw_headers)
        self._keep_alive = keep_alive
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        self._until_close = (
            "Content-Length" not in self.headers and not chunked and status not in (204, 304) and status >= 200
        )
        if not self._headers_ready.done():
            self._headers_ready.set_result(None)

    def _on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER:
            self._connection.transport.pause_reading()
        self._wake()

    def _on_complete(self) -> None:
        self._complete = True
        self._wake()

    def _on_lost(self, exc: Exception | None) -> None:
        if not self._headers_ready.done():
            self._headers_ready.set_exception(
                UpstreamDisconnected(f"the connection closed before the response began{f' ({exc})' if exc else ''}")
            )
            self._headers_ready.exception()  # retrieved here: an abandoned wait must not log it
        elif not self._complete:
            if self._until_close and exc is None:
                self._complete = True
            else:
                self._error = self._error or UpstreamBodyError("the connection closed before the end of the response")
        self._wake()

    def _on_invalid(self, message: str) -> None:
        error = UpstreamBodyError(f"the upstream sent invalid HTTP: {message}")
        if not self._headers_ready.done():
            self._headers_ready.set_exception(error)
            self._headers_ready.exception()
        self._error = error
        self._wake()


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Origin) -> None:
        self.pool = pool
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.closed = False
        self.idle_since = 0.0

    def start(self) -> Response:
        self.response = Response(self)
        self.parser = httptools.HttpResponseParser(self)
        return self.response

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()
        self.pool.forget(self)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for on an idle connection: it cannot be reused
            self.close()
            return
        response.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            response._on_invalid(str(exc) or type(exc).__name__)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None:
            self.response._on_lost(exc)
        self.pool.forget(self)

    # httptools callbacks: they come only from feed_data(), which runs with a response set
    def _current(self) -> Response:
        assert self.response is not None
        return self.response

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current()._raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._current()._on_headers(self.parser.get_status_code(), self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        self._current()._on_body(body)

    def on_message_complete(self) -> None:
        self._current()._on_complete()


def _header_bytes(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise ValueError(f"header {name!r} has a character not allowed in HTTP headers")
    try:
        return f"{name}: {value}\r\n".encode("latin-1")
    except UnicodeEncodeError:
        return f"{name}: {value}\r\n".encode()


class Origin:
    """The keep-alive connections to one scheme://host:port."""

    def __init__(
        self, url: URL, ssl_context: ssl.SSLContext | None, limit: int = 1024, egress: EgressRules | None = None
    ) -> None:
        self.host = url.raw_host or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = ssl_context if url.scheme == "https" else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.ssl else 80
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        self.proxy: EgressProxy | None = egress.proxy_for(url.scheme, self.host, self.port) if egress else None
        # Plain http through an egress proxy: absolute URLs as request targets, its credentials on each.
        forward = self.proxy is not None and self.ssl is None
        self._target_prefix = f"http://{self.host_header}" if forward else ""
        self._proxy_headers = self.proxy.header_lines() if forward and self.proxy else b""
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()
        # At most `limit` connections (open or opening) to the origin; more requests wait for one.
        self._limit = limit
        self._opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def put_back(self, connection: _Connection) -> None:
        connection.response = None
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.append(connection)
        self._wake_one()

    def forget(self, connection: _Connection) -> None:
        if connection in self._all:
            self._all.discard(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a waiter whose request was cancelled is skipped
                waiter.set_result(None)
                return

    async def _connection(self, connect_timeout: float) -> tuple[_Connection, bool]:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._idle:
                connection = self._idle.pop()  # the most recently used: the least likely to be stale
                if not connection.closed and now - connection.idle_since < KEEPALIVE_SECONDS:
                    return connection, True
                connection.close()
            if len(self._all) + self._opening < self._limit:
                break
            waiter = loop.create_future()
            self._waiters.append(waiter)
            await waiter  # the caller's deadline bounds this wait
        self._opening += 1
        try:
            async with asyncio.timeout(connect_timeout):
                connection = await connect(lambda: _Connection(self), self.host, self.port, self.ssl, self.proxy)
        except BaseException as exc:
            self._opening -= 1
            self._wake_one()  # the place this attempt held is free again
            if isinstance(exc, TimeoutError):
                raise UpstreamConnectTimeout(f"no connection within {connect_timeout:g} s") from None
            if isinstance(exc, OSError):
                raise UpstreamConnectError(connect_reason(exc)) from None
            raise
        self._opening -= 1
        self._all.add(connection)
        return connection, False

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        connect_timeout: float,
        progress: SendProgress | None = None,
    ) -> Response:
        """Send the request and wait for the response headers. Cancelling the wait drops the connection.
        `progress` (if given) says afterwards whether the request may have reached the server."""
        head = b"".join(
            [
                f"{method} {self._target_prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n".encode("latin-1"),
                self._proxy_headers,
                *(_header_bytes(k, v) for k, v in headers.items()),
                b"Content-Length: %d\r\n\r\n" % len(body),
            ]
        )
        while True:
            connection, reused = await self._connection(connect_timeout)
            response = connection.start()
            connection.transport.write(head + body)
            if progress is not None:
                progress.sent = True
            try:
                await response._headers_ready
                return response
            except UpstreamDisconnected:
                response.close()
                if reused and not response.received:
                    if progress is not None:
                        progress.sent = False
                    continue  # the server had closed this idle connection: the request never reached it
                raise
            except BaseException:
                response.close()
                raise

    def close(self) -> None:
        for connection in [*self._idle, *self._all]:
            connection.close()
        self._idle.clear()


class Upstreams:
    """One `Origin` per upstream origin, for the app's lifetime (closed in cleanup)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        limit_per_origin: int = 1024,
        egress: EgressRules | None = None,
    ) -> None:
        # The system's CAs (SSL_CERT_FILE / SSL_CERT_DIR point OpenSSL at others, e.g. a corporate CA).
        self._ssl = ssl_context or ssl.create_default_context()
        self._limit = limit_per_origin
        self._egress = egress
        self._origins: dict[str, Origin] = {}
        self._targets: dict[str, tuple[Origin, str]] = {}

    def target(self, url: str) -> tuple[Origin, str]:
        """The pool and request path for an absolute URL (cached: parsed once per URL)."""
        found = self._targets.get(url)
        if found is None:
            parsed = URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.raw_host:
                raise ValueError(f"not an http(s) URL: {url!r}")
            key = str(parsed.origin())
            origin = self._origins.get(key)
            if origin is None:
                origin = self._origins[key] = Origin(parsed, self._ssl, self._limit, self._egress)
            found = self._targets[url] = (origin, parsed.raw_path_qs or "/")
        return found

    async def close(self) -> None:
        for origin in self._origins.values():
            origin.close()
        self._origins.clear()
        self._targets.clear()
