"""Property-based: malformed bodies and headers thrown at the APIs never produce a 5xx of the
proxy's own, and the server stays healthy."""

import asyncio
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.just("mock-gpt-model-0701"), st.just("ft-mock"), st.text(max_size=10), json_values),
        "messages": st.one_of(
            json_values,
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "role": st.one_of(st.sampled_from(["user", "system", "assistant"]), json_values),
                        "content": json_values,
                    },
                ),
                max_size=3,
            ),
        ),
        "stream": st.one_of(st.booleans(), json_values),
    },
)
seed_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(
            json_values, st.fixed_dictionaries({"model_name": st.one_of(st.just("mock-gpt-model-0701"), json_values)})
        ),
        "inference": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "sample_question": st.one_of(
                        json_values, st.fixed_dictionaries({"status": json_values, "selected_question": json_values})
                    ),
                    "custom_question": st.one_of(
                        json_values, st.fixed_dictionaries({"status": json_values, "your_question": json_values})
                    ),
                }
            ),
        ),
    },
)
raw_bodies = st.one_of(st.binary(max_size=64), json_values.map(lambda v: json.dumps(v).encode()))


async def _post_then_check_alive(proxy_server, path: str, body: bytes) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            proxy_server.make_url(path), data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            payload = await resp.read()
            # 5xx is acceptable only when an upstream said so; the proxy itself must answer 4xx or 2xx.
            assert resp.status < 500, (resp.status, payload[:300])
        async with http.get(proxy_server.make_url("/healthz")) as resp:
            assert resp.status == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(chat_like.map(lambda d: json.dumps(d).encode()), raw_bodies))
async def test_chat_completions_never_fails_on_bad_bodies(proxy_server, body):
    await _post_then_check_alive(proxy_server, "/v1/chat/completions", body)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(seed_like.map(lambda d: json.dumps(d).encode()), raw_bodies))
async def test_send_inference_never_fails_on_bad_bodies(proxy_server, body):
    await _post_then_check_alive(proxy_server, "/send_inference", body)


# Bad headers: names and values as raw bytes (anything but the line ends that frame them), on a
# proxy that checks keys, to every API. The HTTP parser may refuse a request (400, connection
# closed); the proxy itself answers 4xx or 2xx, never 5xx, and stays healthy.
header_names = st.one_of(
    st.sampled_from([b"Authorization", b"api-key", b"X-Request-Id", b"X-Mock-Fault", b"X-Mock-TTFT-Ms", b"Cookie"]),
    st.binary(min_size=1, max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b and b":" not in b),
)
header_values = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.sampled_from([b"Bearer fuzz-key-1234", b"Bearer \xff\xfe", b"\xc3\xa9", b"Bearer " + b"k" * 5000]),
)
PATHS = [b"/v1/chat/completions", b"/v1/responses", b"/v1/embeddings", b"/v1/completions", b"/v1/models"]
FUZZ_BODY = json.dumps(
    {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "hi"}], "input": "hi", "prompt": "hi"}
).encode()


@pytest.fixture
async def keyed_proxy(make_proxy):
    return await make_proxy(api_keys="fuzz-key-1234", auth_failures_per_minute=0)


async def _raw_status(server, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(PATHS),
    headers=st.lists(st.tuples(header_names, header_values), max_size=5),
    with_key=st.booleans(),
)
async def test_bad_headers_never_make_the_proxy_fail(keyed_proxy, path, headers, with_key):
    method = b"GET" if path == b"/v1/models" else b"POST"
    lines = [b"%s %s HTTP/1.1" % (method, path), b"Host: x", b"Content-Type: application/json", b"Connection: close"]
    if with_key:
        lines.append(b"Authorization: Bearer fuzz-key-1234")
    lines += [name + b": " + value for name, value in headers]
    body = FUZZ_BODY if method == b"POST" else b""
    lines.append(b"Content-Length: %d" % len(body))
    status = await _raw_status(keyed_proxy, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    assert 0 < status < 500, (status, headers)
    status = await _raw_status(keyed_proxy, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
