"""Bad input, models, health, metrics and the seed's /send_inference on the mock."""

import openai
import pytest
from fixtures.clients import openai_client
from fixtures.seed_api import seed_body


@pytest.fixture
async def client(aiohttp_client, mock_server):
    return await aiohttp_client(mock_server)


@pytest.mark.parametrize(
    "body, param",
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": "hi"}', "messages"),
        (b'{"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', "temperature"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}', "max_tokens"),
    ],
)
async def test_bad_input_is_an_openai_400(client, body, param):
    resp = await client.post("/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


async def test_unknown_path_and_method_are_openai_errors(client):
    resp = await client.get("/v1/nothing")
    assert resp.status == 404 and "error" in await resp.json()
    resp = await client.get("/v1/chat/completions")
    assert resp.status == 405 and "error" in await resp.json()


async def test_healthz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok"}


async def test_metrics_count_requests_faults_and_tokens(client):
    body = {"model": "m", "messages": [{"role": "user", "content": "When is his birthday ?"}]}
    await client.post("/v1/chat/completions", json=body)
    await client.post("/v1/chat/completions", json=body, headers={"X-Mock-Fault": "rate_limit"})
    text = await (await client.get("/metrics")).text()
    assert 'mock_model_requests_total{endpoint="/v1/chat/completions",status="200"} 1.0' in text
    assert 'mock_model_requests_total{endpoint="/v1/chat/completions",status="429"} 1.0' in text
    assert 'mock_model_faults_injected_total{kind="rate_limit"} 1.0' in text
    assert 'mock_model_tokens_total{kind="completion"}' in text


async def test_send_inference_with_a_sample_question(client):
    resp = await client.post("/send_inference", json=seed_body())
    assert resp.status == 200
    body = await resp.json()
    assert body["model_name"] == "mock-gpt-model-0701"
    assert body["response"]["your_question"] == "How many programming languages has Louis employed in his projects?"
    assert "Java" in body["response"]["response"]


async def test_send_inference_with_a_custom_question_and_the_short_form(client):
    body = await (await client.post("/send_inference", json=seed_body(sample=False, custom=True))).json()
    assert body["response"]["your_question"] == "Tell me more about his hobbies ?"
    short = await (await client.post("/send_inference", json={"prompt": "When is his birthday ?"})).json()
    assert "1998" in short["response"]["response"]


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        (seed_body(sample=True, custom=True), 400, "either make custom question"),
        (seed_body(sample=False, custom=False), 400, "either make custom question"),
        (seed_body(number=100), 422, "valid question number range from 1 to 10"),
        (seed_body(number="four"), 400, "must be a whole number"),
        ({"inference": {"sample_question": {"status": "yes"}, "custom_question": {}}}, 400, "true or false"),
        ({"model": {"model_name": "m"}}, 400, "'inference' must be an object"),
    ],
)
async def test_send_inference_errors_follow_the_proxys_rule(client, body, status, fragment):
    # The rule and its statuses are the proxy's (llm_common.seed): the same body fails the same way on both.
    resp = await client.post("/send_inference", json=body)
    assert resp.status == status
    assert fragment in (await resp.json())["error"]["message"]


async def test_models_retrieve_knows_the_listed_names_only(mock_server):
    async with openai_client(mock_server) as sdk:
        model = await sdk.models.retrieve("mock-gpt-model-0701")
        assert (model.id, model.object, model.owned_by) == ("mock-gpt-model-0701", "model", "mock-model")
        listed = await sdk.models.list()
        assert [m.id for m in listed.data] == ["mock-gpt-model-0701"] and listed.data[0] == model
        with pytest.raises(openai.NotFoundError) as err:
            await sdk.models.retrieve("gpt-99")
    assert err.value.body["code"] == "model_not_found" and err.value.body["param"] == "model"
    assert "gpt-99" in err.value.body["message"]


async def test_unknown_paths_get_openais_invalid_url_error(client):
    resp = await client.post("/v1/images/generations", json={})
    error = (await resp.json())["error"]
    assert resp.status == 404 and error["message"] == "Invalid URL (POST /v1/images/generations)"
    assert error["type"] == "invalid_request_error"
