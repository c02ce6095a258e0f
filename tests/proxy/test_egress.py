"""Upstreams through an egress proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY): https through a CONNECT
tunnel with TLS made end to end, http with absolute URLs, credentials only for the proxy, refusals
and dead proxies as connect errors without addresses or credentials. The egress proxy here is a
real one on loopback that resolves the upstream names it is given (as a corporate proxy would: the
client never looks them up)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass, field

import pytest
import trustme
from fixtures.echo_upstream import echo_app, post_through

from llm_proxy.app import create_app
from llm_proxy.egress import EgressProxy, EgressRules
from llm_proxy.http_client import UpstreamConnectError
from llm_proxy.settings import ProxySettings
from llm_proxy.state import REDACTOR

AUTH = "Basic " + base64.b64encode(b"egress-user:p@ss word").decode()
PROXY_USERINFO = "egress-user:p%40ss%20word"


@dataclass
class EgressProxyServer:
    """CONNECT tunnels and absolute-form forwarding, to names mapped to loopback."""

    names: dict[str, str]
    require: str | None = None
    heads: list[str] = field(default_factory=list)
    tunnelled: bytearray = field(default_factory=bytearray)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            if self.require and f"proxy-authorization: {self.require}".lower() not in head.lower():
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(self.names[host], int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                first = b""
            else:  # http://host:port/path: forwarded with the path alone
                authority, _, path = target.removeprefix("http://").partition("/")
                host, port = authority.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(self.names[host], int(port))
                first = head.replace(target, "/" + path, 1).encode("latin-1")
            up_writer.write(first)
            await asyncio.gather(self._pipe(reader, up_writer, record=True), self._pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _pipe(self, reader, writer, record: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                if record:
                    self.tunnelled += data
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def egress_proxy():
    servers = []

    async def start(names: dict[str, str], require: str | None = None) -> EgressProxyServer:
        proxy = EgressProxyServer(names, require)
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        proxy.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return proxy

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def tls_upstream(aiohttp_server):
    """An https upstream whose certificate is for api.example.test, and a context that trusts it."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.example.test").configure_cert(server_ctx)

    server = await aiohttp_server(echo_app(), ssl=server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    return server, trusting


BODY = b'{"secret": "body"}'


async def test_https_goes_through_a_connect_tunnel_with_tls_made_with_the_upstream(egress_proxy, tls_upstream):
    upstream, trusting = tls_upstream
    proxy = await egress_proxy({"api.example.test": "127.0.0.1"}, require=AUTH)
    rules = EgressRules.from_environ({"HTTPS_PROXY": f"http://{PROXY_USERINFO}@127.0.0.1:{proxy.port}"})
    url = f"https://api.example.test:{upstream.port}/v1/echo"
    assert await post_through(rules, url, trusting, times=2, body=BODY) == (200, BODY)
    assert len(proxy.heads) == 1  # the tunnel was kept alive for the second request
    request_line, *headers = proxy.heads[0].strip().split("\r\n")
    assert request_line == f"CONNECT api.example.test:{upstream.port} HTTP/1.1"
    assert f"Proxy-Authorization: {AUTH}" in headers
    # The proxy relayed TLS: neither the request, the upstream key nor the body went by in clear.
    assert proxy.tunnelled and b"POST" not in proxy.tunnelled and b"upstream-key" not in proxy.tunnelled
    assert b"secret" not in proxy.tunnelled


async def test_http_goes_to_the_proxy_with_the_absolute_url_and_its_credentials(egress_proxy, aiohttp_server):
    upstream = await aiohttp_server(echo_app())
    proxy = await egress_proxy({"mock.example.test": "127.0.0.1"})
    rules = EgressRules.from_environ({"http_proxy": f"http://{PROXY_USERINFO}@127.0.0.1:{proxy.port}"})
    assert await post_through(rules, f"http://mock.example.test:{upstream.port}/v1/echo", body=BODY) == (200, BODY)
    request_line, *headers = proxy.heads[0].strip().split("\r\n")
    assert request_line == f"POST http://mock.example.test:{upstream.port}/v1/echo HTTP/1.1"
    assert f"Host: mock.example.test:{upstream.port}" in headers
    assert f"Proxy-Authorization: {AUTH}" in headers


async def test_a_refused_tunnel_is_a_connect_error_with_the_status_and_no_credentials(egress_proxy, tls_upstream):
    upstream, trusting = tls_upstream
    proxy = await egress_proxy({"api.example.test": "127.0.0.1"}, require=AUTH)
    rules = EgressRules.from_environ({"HTTPS_PROXY": f"http://egress-user:wrong-password@127.0.0.1:{proxy.port}"})
    with pytest.raises(UpstreamConnectError) as refused:
        await post_through(rules, f"https://api.example.test:{upstream.port}/v1/echo", trusting)
    message = str(refused.value)
    assert "407" in message and "egress proxy" in message
    assert "wrong-password" not in message and "127.0.0.1" not in message and str(proxy.port) not in message


async def test_an_unreachable_egress_proxy_is_a_connect_error_that_says_so(unused_tcp_port):
    rules = EgressRules.from_environ({"HTTPS_PROXY": f"http://127.0.0.1:{unused_tcp_port}"})
    with pytest.raises(UpstreamConnectError, match="egress proxy: Connection refused") as refused:
        await post_through(rules, "https://api.example.test/v1/echo")
    assert str(unused_tcp_port) not in str(refused.value)


async def test_loopback_upstreams_never_go_through_the_proxy(unused_tcp_port, aiohttp_server):
    upstream = await aiohttp_server(echo_app())
    rules = EgressRules.from_environ({"HTTP_PROXY": f"http://127.0.0.1:{unused_tcp_port}"})  # nothing listens
    assert await post_through(rules, f"http://127.0.0.1:{upstream.port}/v1/echo") == (200, b'{"q": 1}')


async def test_the_proxy_reaches_its_backends_through_the_egress_proxy_of_its_environment(
    monkeypatch, egress_proxy, make_proxy, mock_server, http
):
    proxy = await egress_proxy({"mock.example.test": "127.0.0.1"})
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "")
    mock_url = f"http://mock.example.test:{mock_server.port}/v1"
    server = await make_proxy(
        {
            "backends": {"mock": {"base_url": mock_url}},
            "models": [{"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"}],
        }
    )
    body = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}
    async with http.post(server.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 200, await resp.text()
        assert "7 January 1998" in (await resp.json())["choices"][0]["message"]["content"]
    assert proxy.heads[0].startswith(f"POST http://mock.example.test:{mock_server.port}/v1/chat/completions HTTP/1.1")


def test_the_egress_proxy_password_is_redacted_from_log_lines(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://egress-user:hunter2-secret@egress:3128")
    app = create_app(ProxySettings(allow_anonymous=True, log_requests=False))
    assert app[REDACTOR].text("proxy said: hunter2-secret") == "proxy said: [REDACTED]"


def test_a_proxy_url_that_is_not_http_stops_the_start_without_showing_its_password(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:hunter2-secret@egress:1080")
    with pytest.raises(ValueError) as refused:
        create_app(ProxySettings(allow_anonymous=True, log_requests=False))
    assert "HTTPS_PROXY" in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.unit
@pytest.mark.parametrize(
    "value",
    [
        "socks5://u:hunter2-secret@egress:1080",
        "http://u:hunter2-secret@egress:port",
        "http://u:hunter2-secret@:3128",
        "https://u:hunter2-secret@egress:3128",
        "http://u:hunter2-secret@egress:3128/path",
    ],
)
def test_a_malformed_proxy_url_is_refused_naming_the_variable_not_the_value(value):
    with pytest.raises(ValueError) as refused:
        EgressRules.from_environ({"HTTPS_PROXY": value})
    assert "HTTPS_PROXY" in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.unit
def test_lower_case_names_win_and_credentials_become_basic_auth():
    rules = EgressRules.from_environ(
        {"https_proxy": "http://u:p%3Aw@lower:3128", "HTTPS_PROXY": "http://upper:3128", "HTTP_PROXY": "plain:8080"}
    )
    assert rules.https == EgressProxy("lower", 3128, "Basic " + base64.b64encode(b"u:p:w").decode(), "p:w")
    assert rules.http == EgressProxy("plain", 8080)
    assert rules.secrets() == {"p:w", "Basic " + base64.b64encode(b"u:p:w").decode()}
    assert "p:w" not in repr(rules) and "p:w" not in rules.describe()
    assert EgressRules.from_environ({}).proxy_for("https", "api.openai.com", 443) is None


@pytest.mark.unit
@pytest.mark.parametrize(
    "no_proxy, host, port, direct",
    [
        ("", "api.openai.com", 443, False),
        ("openai.com", "api.openai.com", 443, True),
        ("openai.com", "openai.com", 443, True),
        (".openai.com", "api.openai.com", 443, True),
        ("*.openai.com", "api.openai.com", 443, True),
        ("openai.com", "notopenai.com", 443, False),
        ("svc,.cluster.local", "llm-mock.default.svc.cluster.local", 80, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("10.0.0.0/8", "ten.example", 80, False),
        ("api.openai.com:8443", "api.openai.com", 443, False),
        ("api.openai.com:443", "api.openai.com", 443, True),
        ("[fd00::1]:443", "fd00::1", 443, True),
        ("fd00::/8", "fd00::1", 443, True),
        ("*", "anything.example", 443, True),
        ("", "localhost", 80, True),
        ("", "127.0.0.1", 80, True),
        ("", "::1", 80, True),
        ("API.OpenAI.com", "api.openai.com", 443, True),
    ],
)
def test_no_proxy_matches_as_curl_and_go_do(no_proxy, host, port, direct):
    rules = EgressRules.from_environ({"HTTPS_PROXY": "http://egress:3128", "NO_PROXY": no_proxy})
    assert (rules.proxy_for("https", host, port) is None) is direct
