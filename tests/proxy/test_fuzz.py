"""Property-based: malformed bodies thrown at both APIs never produce a 5xx of the proxy's own,
and the server stays healthy."""

import json

import aiohttp
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
