"""The mock's Responses API through the official openai SDK: the object, the typed event stream, usage."""

import aiohttp
import openai
import pytest
from fixtures.openapi import assert_responses_stream, parse_sse

from mock_model import tokens

QUESTION = "When is his birthday ?"
EVENT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def without_repeats(types):
    return [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]


async def test_non_stream_answers_with_a_completed_response_and_real_usage(mock_sdk):
    response = await mock_sdk.responses.create(model="mock-gpt-model-0701", input=QUESTION)
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_") and response.model == "mock-gpt-model-0701"
    assert "7 January 1998" in response.output_text
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert response.usage.input_tokens == tokens.count_chat_prompt([{"role": "user", "content": QUESTION}])
    assert response.usage.output_tokens == tokens.count(response.output_text)
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


async def test_instructions_and_message_items_are_read_as_chat_messages_are(mock_sdk):
    items = [
        {"role": "assistant", "content": "Ask me about the candidate."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
    ]
    response = await mock_sdk.responses.create(model="m", instructions="Answer briefly.", input=items)
    chat = await mock_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    assert response.output_text == chat.choices[0].message.content
    as_chat = [{"role": "developer", "content": "Answer briefly."}, items[0], {"role": "user", "content": QUESTION}]
    assert response.usage.input_tokens == tokens.count_chat_prompt(as_chat)
    assert response.instructions == "Answer briefly."


async def test_the_same_request_gets_the_same_response(mock_sdk):
    first = await mock_sdk.responses.create(model="m", input="Which sports can he play?")
    second = await mock_sdk.responses.create(model="m", input="Which sports can he play?")
    assert first.id == second.id and first.output_text == second.output_text


async def test_stream_has_the_typed_event_sequence_and_its_text_is_the_non_stream_text(mock_sdk):
    whole = await mock_sdk.responses.create(model="m", input=QUESTION)
    stream = await mock_sdk.responses.create(model="m", input=QUESTION, stream=True)
    events = [event async for event in stream]
    assert without_repeats([e.type for e in events]) == EVENT_ORDER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == tokens.count(whole.output_text)  # one token per delta by default
    assert "".join(deltas) == whole.output_text
    done = events[-1].response
    assert done.status == "completed" and done.output_text == whole.output_text
    assert done.id == whole.id and done.usage == whole.usage
    created = events[0].response
    assert created.status == "in_progress" and created.output == [] and created.usage is None


async def test_the_sdk_stream_helper_assembles_the_same_text(mock_sdk):
    whole = await mock_sdk.responses.create(model="m", input=QUESTION)
    async with mock_sdk.responses.stream(model="m", input=QUESTION) as stream:
        final = await stream.get_final_response()
    assert final.output_text == whole.output_text


async def test_max_output_tokens_makes_an_incomplete_response(mock_sdk):
    response = await mock_sdk.responses.create(model="m", input=QUESTION, max_output_tokens=16)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 16 and response.output[0].status == "incomplete"
    stream = await mock_sdk.responses.create(model="m", input=QUESTION, max_output_tokens=16, stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.incomplete" and events[-1].response.output_text == response.output_text


async def test_tokens_per_chunk_sets_the_delta_size(mock_sdk):
    stream = await mock_sdk.responses.create(
        model="m",
        input="x",
        stream=True,
        extra_headers={"X-Mock-Response-Tokens": "20", "X-Mock-Tokens-Per-Chunk": "5"},
    )
    deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    assert len(deltas) == 4 and tokens.count("".join(deltas)) == 20


@pytest.mark.parametrize(
    "body, param, fragment",
    [
        ({"model": "m"}, "input", "Missing required parameter"),
        ({"input": "hi"}, "model", "'model' is required"),
        ({"model": "m", "input": 5}, "input", "string or a non-empty list"),
        ({"model": "m", "input": []}, "input", "string or a non-empty list"),
        ({"model": "m", "input": ["hi"]}, "input[0]", "must be an object"),
        ({"model": "m", "input": [{"role": "wizard", "content": "hi"}]}, "input[0].role", "must be one of"),
        ({"model": "m", "input": [{"role": "user", "content": 3}]}, "input[0].content", "string or a list"),
        ({"model": "m", "input": [{"role": "user", "content": ["hi"]}]}, "input[0].content[0]", "'type'"),
        ({"model": "m", "input": "hi", "instructions": 1}, "instructions", "must be a string"),
        ({"model": "m", "input": "hi", "stream": "yes"}, "stream", "boolean"),
        ({"model": "m", "input": "hi", "temperature": "hot"}, "temperature", "number"),
        ({"model": "m", "input": "hi", "max_output_tokens": 5}, "max_output_tokens", "Expected a value >= 16"),
        ({"model": "m", "input": "hi", "previous_response_id": "resp_1"}, "previous_response_id", "not found"),
        ({"model": "m", "input": "hi", "metadata": {"a": 1}}, "metadata", "object of strings"),
    ],
)
async def test_bad_input_is_an_openai_400_naming_the_field(mock_sdk, body, param, fragment):
    with pytest.raises(openai.BadRequestError) as err:
        await mock_sdk.post("/responses", body=body, cast_to=object)
    assert err.value.status_code == 400
    error = err.value.body
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert fragment in error["message"]


async def post_stream(http, server, headers, **body):
    payload = {"model": "mock-gpt-model-0701", "input": QUESTION, "stream": True, **body}
    return await http.post(server.make_url("/v1/responses"), json=payload, headers=headers)


async def test_a_stream_cut_mid_way_ends_without_its_terminal_event(http, mock_server):
    resp = await post_stream(http, mock_server, {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"})
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in resp.content.iter_any():
            received += chunk
    types = [e.event for e in parse_sse(received[: received.rfind(b"\n\n") + 2])]
    assert types[:4] == EVENT_ORDER[:4]
    assert types.count("response.output_text.delta") == 3
    assert "response.completed" not in types


async def test_no_done_ends_the_stream_cleanly_without_response_completed(http, mock_server):
    resp = await post_stream(http, mock_server, {"X-Mock-Fault": "no_done"})
    events = assert_responses_stream(await resp.read())
    assert events[-1]["type"] == "response.output_item.done"


async def test_malformed_sends_one_broken_delta_event(http, mock_server):
    resp = await post_stream(http, mock_server, {"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "2"})
    events = parse_sse(await resp.read())
    broken = [e for e in events if "{not json" in e.data]
    assert len(broken) == 1 and broken[0].event == "response.output_text.delta"
    assert events.index(broken[0]) == 4 + 2  # after the four opening events and two deltas
    assert events[-1].event == "response.completed"
