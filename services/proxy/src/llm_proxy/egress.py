"""Reaching upstreams through an egress proxy: HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read as curl,
Go and the OpenAI SDK read them (lower-case names first), once at start.

- An https upstream goes through an HTTP `CONNECT host:port` tunnel; TLS (SNI, certificate
  checks) is then made with the upstream itself, so the egress proxy sees neither keys nor bodies.
- An http upstream is sent to the egress proxy with the absolute URL as request target.
- `user:password@` in the proxy URL becomes `Proxy-Authorization: Basic`, sent only to the proxy.
- NO_PROXY: comma-separated host names (`example.com` also matches its subdomains, `.example.com`
  too), IP addresses, CIDR ranges (`10.0.0.0/8`), optional `:port`, or `*`. Loopback addresses and
  `localhost` never go through a proxy (as in Go).

A proxy URL that is not `http://host[:port]` is refused at start (`cannot start`), never ignored:
a misspelt setting must not send traffic another way than the operator meant.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import unquote

from yarl import URL

P = TypeVar("P", bound=asyncio.Protocol)
MAX_CONNECT_RESPONSE = 16 * 1024  # a CONNECT answer's head; anything longer is not one


class EgressProxyError(OSError):
    """The egress proxy refused or broke the tunnel (its message says how, without addresses)."""


def connect_reason(exc: OSError) -> str:
    """Why a connection failed, without addresses (the text reaches clients in error messages)."""
    if isinstance(exc, EgressProxyError):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {getattr(exc, 'verify_message', None) or exc.reason or type(exc).__name__}"
    if isinstance(exc, socket.gaierror):
        return f"name lookup: {exc.strerror}"
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return type(exc).__name__


@dataclass(frozen=True)
class EgressProxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # Proxy-Authorization value
    password: str | None = field(default=None, repr=False)  # for the log redactor

    @classmethod
    def from_url(cls, value: str, variable: str) -> EgressProxy:
        # Errors name the variable, never the value: it may carry a password.
        problem = f"{variable}: an egress proxy must be http://[user:password@]host[:port]"
        try:
            url = URL(value if "://" in value else f"http://{value}")
            port = url.port or 80
        except (ValueError, TypeError):
            raise ValueError(problem) from None
        if url.scheme != "http" or not url.raw_host or url.path not in ("", "/"):
            raise ValueError(problem)
        authorization = password = None
        if url.raw_user is not None:
            password = unquote(url.raw_password or "")
            pair = f"{unquote(url.raw_user)}:{password}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(url.raw_host, port, authorization, password or None)

    def header_lines(self) -> bytes:
        if self.authorization is None:
            return b""
        return f"Proxy-Authorization: {self.authorization}\r\n".encode("latin-1")


def _bypassed(entries: tuple[str, ...], host: str, port: int) -> bool:
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    for entry in entries:
        if entry == "*":
            return True
        if entry.startswith("[") and "]:" in entry:  # [IPv6]:port
            name, entry_port = entry[1:].split("]:", 1)
        elif entry.count(":") == 1:  # host:port (an IPv6 address has more colons)
            name, entry_port = entry.split(":")
        else:
            name, entry_port = entry.strip("[]"), ""
        if entry_port and entry_port != str(port):
            continue
        if "/" in name:
            try:
                if address is not None and address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


@dataclass(frozen=True)
class EgressRules:
    https: EgressProxy | None = None
    http: EgressProxy | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EgressRules:
        environ = os.environ if environ is None else environ

        def read(name: str) -> tuple[str, str] | None:
            for variable in (name.lower(), name):
                value = environ.get(variable, "").strip()
                if value:
                    return variable, value
            return None

        proxies: dict[str, EgressProxy | None] = {}
        for scheme in ("https", "http"):
            found = read(f"{scheme.upper()}_PROXY")
            proxies[scheme] = EgressProxy.from_url(found[1], found[0]) if found else None
        no_proxy = read("NO_PROXY")
        entries = tuple(e.strip().lower() for e in (no_proxy[1] if no_proxy else "").split(",") if e.strip())
        return cls(proxies["https"], proxies["http"], entries)

    def proxy_for(self, scheme: str, host: str, port: int) -> EgressProxy | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or _bypassed(self.no_proxy, host, port):
            return None
        return proxy

    def secrets(self) -> set[str]:
        """What a log line must never show: the proxies' passwords and credentials."""
        proxies = [p for p in (self.https, self.http) if p is not None]
        return {s for p in proxies for s in (p.password, p.authorization) if s}

    def describe(self) -> str:
        """For the start-up log: where traffic goes, without credentials."""
        parts = [f"{s} via {p.host}:{p.port}" for s, p in (("https", self.https), ("http", self.http)) if p]
        if not parts:
            return "direct"
        return ", ".join(parts) + (f" (NO_PROXY: {', '.join(self.no_proxy)})" if self.no_proxy else "")


async def _socket_to(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    last: OSError = EgressProxyError("egress proxy: no address")
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    raise last


async def _tunnel(proxy: EgressProxy, host: str, port: int) -> socket.socket:
    """A socket to the egress proxy on which `CONNECT host:port` was answered 2xx."""
    loop = asyncio.get_running_loop()
    try:
        sock = await _socket_to(proxy.host, proxy.port)
    except OSError as exc:
        raise EgressProxyError(f"egress proxy: {connect_reason(exc)}") from None
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n".encode() + proxy.header_lines() + b"\r\n"
        await loop.sock_sendall(sock, request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise EgressProxyError("egress proxy closed the connection before answering CONNECT")
            head += chunk
            if len(head) > MAX_CONNECT_RESPONSE:
                raise EgressProxyError("egress proxy sent an answer to CONNECT that is too long")
        status_line, _, _ = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise EgressProxyError("egress proxy answered CONNECT with something that is not HTTP")
        status = int(parts[1])
        if not 200 <= status < 300:
            reason = parts[2].decode("latin-1", "replace")[:80] if len(parts) > 2 else ""
            raise EgressProxyError(f"egress proxy refused the tunnel: {status} {reason}".rstrip())
        if head.index(b"\r\n\r\n") + 4 != len(head):
            raise EgressProxyError("egress proxy sent bytes after its answer to CONNECT")
        return sock
    except BaseException:
        sock.close()
        raise


async def connect(
    factory: Callable[[], P],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    proxy: EgressProxy | None,
) -> P:
    """A connection to the upstream host:port, direct or through `proxy`, with TLS when `tls` is set."""
    loop = asyncio.get_running_loop()
    if proxy is None:
        _, protocol = await loop.create_connection(factory, host, port, ssl=tls, server_hostname=host if tls else None)
    elif tls is None:  # plain http: every request goes to the proxy, with the absolute URL
        _, protocol = await loop.create_connection(factory, proxy.host, proxy.port)
    else:
        sock = await _tunnel(proxy, host, port)
        try:
            _, protocol = await loop.create_connection(factory, sock=sock, ssl=tls, server_hostname=host)
        except BaseException:
            sock.close()
            raise
    return protocol
