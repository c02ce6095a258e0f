"""The seed's API through a real proxy and mock: every example and error case of its README,
plus the bad input it did not handle."""

import aiohttp
import pytest
from fixtures.seed_api import PACKAGED_OPENAI_MODELS, seed_body


@pytest.fixture
async def http():
    # No cookies: these tests exercise the per-client memory (the cookie has its own test).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


async def post(http, proxy, payload, **kw):
    async with http.post(proxy.make_url("/send_inference"), json=payload, **kw) as resp:
        return resp.status, await resp.json()


async def test_supported_models_are_grouped_from_the_live_table(proxy_server, http):
    async with http.get(proxy_server.make_url("/get_suppored_models")) as resp:
        assert resp.status == 200
        assert await resp.json() == {
            "message": {
                "fined_tune_model": ["ft-mock"],
                "mock_model": ["mock-gpt-model-0701"],
                "open_ai_models": ["grounded-mock"],
            }
        }


async def test_the_packaged_table_groups_like_the_seed(make_proxy, http):
    from llm_proxy.app import PACKAGED_ROUTES

    proxy = await make_proxy(PACKAGED_ROUTES.read_text())
    async with http.get(proxy.make_url("/get_suppored_models")) as resp:
        assert await resp.json() == {
            "message": {
                "fined_tune_model": ["louis-gpt-3.5-fined-tune-model"],
                "mock_model": ["mock-gpt-model-0701"],
                "open_ai_models": PACKAGED_OPENAI_MODELS,
            }
        }


async def test_sample_questions_are_numbered(proxy_server, http):
    async with http.get(proxy_server.make_url("/get_sample_questions")) as resp:
        questions = (await resp.json())["response"]
    assert questions[0] == "question 1: What is the candidate name?"
    assert questions[3] == "question 4: How many programming languages has Louis employed in his projects?"
    assert len(questions) >= 10


async def test_a_sample_question_before_listing_them_is_refused_then_allowed(proxy_server, http):
    status, reply = await post(http, proxy_server, seed_body())
    assert status == 409
    assert reply == {
        "error": "You have not seen the list of sample questions yet, please proceed to look at "
        "sample questions and choose one of your interest"
    }
    await (await http.get(proxy_server.make_url("/get_sample_questions"))).read()
    status, reply = await post(http, proxy_server, seed_body())
    assert status == 200
    assert reply["model_name"] == "mock-gpt-model-0701"
    assert reply["response"]["your_question"] == "How many programming languages has Louis employed in his projects?"
    assert "Java" in reply["response"]["response"]


async def test_the_seen_rule_is_per_client(make_proxy, http):
    proxy = await make_proxy(api_keys="key-one-1111,key-two-2222")
    one = {"Authorization": "Bearer key-one-1111"}
    two = {"Authorization": "Bearer key-two-2222"}
    await (await http.get(proxy.make_url("/get_sample_questions"), headers=one)).read()
    assert (await post(http, proxy, seed_body(), headers=one))[0] == 200
    assert (await post(http, proxy, seed_body(), headers=two))[0] == 409


async def test_the_cookie_carries_the_seen_rule_across_replicas(make_proxy):
    first, second = await make_proxy(), await make_proxy()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await (await http.get(first.make_url("/get_sample_questions"))).read()
        # Another replica never saw this client, but the cookie says it listed the questions.
        async with http.post(
            second.make_url("/send_inference"), json=seed_body(), headers={"X-Forwarded-For": "10.9.9.9"}
        ) as resp:
            assert resp.status == 200


async def test_a_custom_question_to_the_fine_tuned_route(proxy_server, http):
    status, reply = await post(http, proxy_server, seed_body(model="ft-mock", sample=False, custom=True))
    assert status == 200
    assert reply["model_name"] == "ft-mock"
    assert reply["response"]["your_question"] == "Tell me more about his hobbies ?"
    assert reply["response"]["response"]


async def test_an_unsupported_model_lists_the_supported_ones(proxy_server, http):
    status, reply = await post(http, proxy_server, seed_body(model="wrong_model", sample=False, custom=True))
    assert status == 404
    assert reply == {
        "error": "wrong_model is not supported, please choose model from the list of supported models below",
        "suppored_models": ["mock-gpt-model-0701", "grounded-mock", "ft-mock"],
    }


@pytest.mark.parametrize("sample, custom", [(True, True), (False, False)])
async def test_both_or_neither_mode_is_refused(proxy_server, http, sample, custom):
    status, reply = await post(http, proxy_server, seed_body(sample=sample, custom=custom))
    assert status == 400
    assert reply == {
        "error": "You are only allowed to choose either make custom question or pick one from the "
        "list of sample questions"
    }


async def test_an_out_of_range_question_number_names_the_range(proxy_server, http):
    await (await http.get(proxy_server.make_url("/get_sample_questions"))).read()
    status, reply = await post(http, proxy_server, seed_body(number=100))
    assert status == 422
    assert reply["error"].startswith(
        "The question number 100 you entered is not valid, valid question number range from 1 to "
    )


async def test_an_upstream_failure_is_a_5xx_with_the_seeds_message(make_proxy, unused_tcp_port_factory, http):
    routes = {
        "backends": {"dead": {"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"}},
        "models": [{"name": "gpt-4", "group": "openai", "backend": "dead", "context": "knowledge"}],
    }
    proxy = await make_proxy(routes, retry_attempts=1)
    status, reply = await post(http, proxy, seed_body(model="gpt-4", sample=False, custom=True))
    assert status == 502
    assert reply == {"error": "Error when sending inference to gpt-4, please try again"}


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"{oops", "not valid JSON"),
        (b"[]", "'body' is required and must be an object"),
        (b'{"inference": {}}', "'model' is required"),
        (b'{"model": {"model_name": 3}, "inference": {}}', "'model.model_name' is required and must be a string"),
        (b'{"model": {"model_name": "mock-gpt-model-0701"}}', "'inference' is required"),
        (
            b'{"model": {"model_name": "mock-gpt-model-0701"}, "inference": {"custom_question": {"status": true}}}',
            "'inference.sample_question' is required",
        ),
        (
            b'{"model": {"model_name": "mock-gpt-model-0701"}, "inference": {"sample_question": {"status": "yes"},'
            b' "custom_question": {"status": false}}}',
            "'inference.sample_question.status' is required and must be",
        ),
        (
            b'{"model": {"model_name": "mock-gpt-model-0701"}, "inference": {"sample_question": {"status": false},'
            b' "custom_question": {"status": true, "your_question": 42}}}',
            "your_question' must be a non-empty string",
        ),
        (
            b'{"model": {"model_name": "mock-gpt-model-0701"}, "inference": {"sample_question": {"status": true,'
            b' "selected_question": "4"}, "custom_question": {"status": false}}}',
            "must be a whole number",
        ),
    ],
)
async def test_bad_input_gets_a_clear_400(proxy_server, http, raw, fragment):
    async with http.post(
        proxy_server.make_url("/send_inference"), data=raw, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
        assert fragment in (await resp.json())["error"]


async def test_an_answer_from_a_fallback_names_the_model_that_gave_it(make_proxy, mock_server, http):
    from fixtures.mock_servers import mock_base_url

    routes = {
        # A paid backend that is down (nothing listens on port 9 of loopback), falling back to the mock.
        "backends": {"paid": {"base_url": "http://127.0.0.1:9/v1"}, "mock": {"base_url": mock_base_url(mock_server)}},
        "models": [
            {"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"},
            {"name": "paid-model", "group": "openai", "backend": "paid", "fallbacks": ["mock-gpt-model-0701"]},
        ],
    }
    proxy = await make_proxy(routes, retry_attempts=1)
    status, reply = await post(http, proxy, seed_body(model="paid-model", sample=False, custom=True))
    assert status == 200
    assert reply["model_name"] == "mock-gpt-model-0701" and reply["requested_model"] == "paid-model"
    assert reply["response"]["response"].startswith("[mock model")
    status, reply = await post(http, proxy, seed_body(sample=False, custom=True))
    assert status == 200 and reply["model_name"] == "mock-gpt-model-0701" and "requested_model" not in reply
