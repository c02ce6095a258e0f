"""The egress path against a real egress proxy: Debian's tinyproxy, started on a free loopback port
with Basic authentication (scripts/ci/setup-tinyproxy.sh installs it; .ci/run runs that as root).
Upstreams are named by this machine's host name, which tinyproxy resolves itself, as a corporate
proxy would; loopback names and addresses would be sent direct."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time

import openai
import pytest
import trustme
from aiohttp import web
from fixtures.clients import free_port, openai_client
from fixtures.debian_packages import system_command
from fixtures.echo_upstream import echo_app, post_through

from llm_proxy.egress import EgressRules
from llm_proxy.http_client import UpstreamConnectError
from mock_model.app import create_app as create_mock_app
from mock_model.settings import MockSettings

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory):
    """A tinyproxy that takes `egress-user` / `pass-word`; yields its port, and its log afterwards."""
    binary = system_command("tinyproxy", "setup-tinyproxy.sh")
    try:
        socket.getaddrinfo(HOST, None)
    except socket.gaierror:
        pytest.fail(f"this machine's host name {HOST!r} does not resolve; tinyproxy needs it to reach the upstreams")
    workdir = tmp_path_factory.mktemp("tinyproxy")
    port = free_port()
    config = workdir / "tinyproxy.conf"
    config.write_text(
        f"Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\nMaxClients 50\nAllow 127.0.0.1\n"
        "BasicAuth egress-user pass-word\nDisableViaHeader Yes\n"
    )
    log = workdir / "tinyproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"tinyproxy did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
    yield port, log
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


async def tls_server(aiohttp_server, ca, app: web.Application):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_ctx)
    return await aiohttp_server(app, host="127.0.0.1", ssl=server_ctx)


async def test_https_through_tinyproxy_connect_with_basic_auth(tinyproxy, ca, aiohttp_server):
    port, log = tinyproxy
    upstream = await tls_server(aiohttp_server, ca, echo_app())
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    rules = EgressRules.from_environ({"HTTPS_PROXY": f"egress-user:pass-word@127.0.0.1:{port}"})
    assert await post_through(rules, f"https://{HOST}:{upstream.port}/v1/echo", trusting) == (200, b'{"q": 1}')
    assert f'Established connection to host "{HOST}"' in log.read_text()


async def test_http_through_tinyproxy_with_absolute_urls(tinyproxy, aiohttp_server):
    port, log = tinyproxy
    upstream = await aiohttp_server(echo_app(), host="127.0.0.1")
    rules = EgressRules.from_environ({"HTTP_PROXY": f"http://egress-user:pass-word@127.0.0.1:{port}"})
    assert await post_through(rules, f"http://{HOST}:{upstream.port}/v1/echo") == (200, b'{"q": 1}')
    assert f"POST http://{HOST}:{upstream.port}/v1/echo" in log.read_text()


async def test_tinyproxy_refusing_the_credentials_is_a_connect_error_with_its_status(tinyproxy, ca, aiohttp_server):
    port, _ = tinyproxy
    upstream = await tls_server(aiohttp_server, ca, echo_app())
    rules = EgressRules.from_environ({"HTTPS_PROXY": f"http://egress-user:not-it@127.0.0.1:{port}"})
    # tinyproxy answers 407 without credentials and 401 with wrong ones; either is passed on.
    with pytest.raises(UpstreamConnectError, match="egress proxy refused the tunnel: 40[17]") as refused:
        await post_through(rules, f"https://{HOST}:{upstream.port}/v1/echo")
    assert "not-it" not in str(refused.value) and str(port) not in str(refused.value)


async def test_an_sdk_chat_reaches_a_tls_backend_through_tinyproxy(
    tinyproxy, ca, aiohttp_server, make_proxy, monkeypatch, tmp_path
):
    """The OpenAI SDK → llm-proxy → tinyproxy (CONNECT) → the mock over TLS, streaming included."""
    port, _ = tinyproxy
    mock = await tls_server(aiohttp_server, ca, create_mock_app(MockSettings()))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the proxy's default TLS context reads it
    monkeypatch.setenv("HTTPS_PROXY", f"http://egress-user:pass-word@127.0.0.1:{port}")
    routes = {
        "backends": {"mock": {"base_url": f"https://{HOST}:{mock.port}/v1"}},
        "models": [{"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"}],
    }
    proxy = await make_proxy(routes)
    question = [{"role": "user", "content": "When is his birthday ?"}]
    async with openai_client(proxy) as client:  # http to the proxy on loopback: the SDK goes direct
        answer = await client.chat.completions.create(model="mock-gpt-model-0701", messages=question)
        stream = await client.chat.completions.create(model="mock-gpt-model-0701", messages=question, stream=True)
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "7 January 1998" in (answer.choices[0].message.content or "")
    assert "7 January 1998" in streamed


async def test_the_proxy_process_under_uvloop_answers_through_tinyproxy(
    tinyproxy, ca, aiohttp_server, proxy_processes, tmp_path
):
    """As a pod runs it: the console script (uvloop), its settings and egress from the environment."""
    port, _ = tinyproxy
    mock = await tls_server(aiohttp_server, ca, create_mock_app(MockSettings()))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"backends:\n  mock: {{base_url: 'https://{HOST}:{mock.port}/v1'}}\n"
        "models:\n  - {name: mock-gpt-model-0701, group: mock, backend: mock}\n"
    )
    (proxy,) = proxy_processes(
        1,
        {
            "LLM_PROXY_ROUTES": str(routes),
            "LLM_PROXY_ALLOW_ANONYMOUS": "true",
            "SSL_CERT_FILE": str(tmp_path / "ca.pem"),
            "HTTPS_PROXY": f"http://egress-user:pass-word@127.0.0.1:{port}",
            "NO_PROXY": "",
        },
    )
    question = [{"role": "user", "content": "When is his birthday ?"}]
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0) as client:
        answer = await client.chat.completions.create(model="mock-gpt-model-0701", messages=question)
    assert "7 January 1998" in (answer.choices[0].message.content or "")
    log = proxy.log()
    assert f"upstream traffic: https via 127.0.0.1:{port}" in log
    assert "pass-word" not in log
