"""The schema subset and its helper: complete, from a recorded commit, strict, and corrected only where needed."""

import json
import re

import pytest
from fixtures import openapi
from openapi.extract_subset import ROOTS, SUBSET, closure

DOCUMENT = json.loads(SUBSET.read_text(encoding="utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]

pytestmark = pytest.mark.unit  # no server: part of the fast set


def test_the_subset_records_its_source_and_holds_every_schema_its_roots_reach():
    source = DOCUMENT["info"]["x-source"]
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert source["repository"] == "https://github.com/openai/openai-openapi"
    assert set(closure(SCHEMAS, ROOTS)) == set(SCHEMAS)
    assert (SUBSET.parent / "LICENSE").read_text().startswith("The MIT License")
    assert source["commit"] in (SUBSET.parent / "README.md").read_text()


def test_every_stream_event_type_the_helper_knows_is_its_schemas_type():
    for kind, name in openapi.RESPONSE_EVENTS.items():
        assert SCHEMAS[name]["properties"]["type"]["enum"] == [kind]


@pytest.mark.parametrize(
    "schema, body, fragment",
    [
        (openapi.ERROR, {"error": {"message": "m", "type": "t", "param": None}}, "'code' is a required property"),
        (openapi.MODEL, {"id": "m", "object": "model", "created": "today", "owned_by": "x"}, "$.created"),
        (openapi.EMBEDDINGS, {"object": "list", "model": "m", "data": [], "usage": {}}, "prompt_tokens"),
        (
            openapi.RESPONSE_EVENTS["response.output_text.delta"],
            {"type": "response.output_text.delta", "item_id": "i", "output_index": 0, "content_index": 0, "delta": "x"},
            "'sequence_number' is a required property",
        ),
    ],
)
def test_the_helper_refuses_bodies_that_break_the_schema(schema, body, fragment):
    problems = openapi.violations(schema, body)
    assert any(fragment in p for p in problems), problems
    with pytest.raises(AssertionError):
        openapi.assert_conforms(schema, body)


def chat_chunk(finish_reason):
    choice = {"index": 0, "delta": {"content": "x"}, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
        "usage": None,
    }


def completion_chunk(finish_reason):
    choice = {"text": "x", "index": 0, "logprobs": None, "finish_reason": finish_reason}
    return {"id": "c", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}


def example_of(event):
    """The document's own example of a stream event (in its x-oaiMeta)."""
    return json.loads(SCHEMAS[event]["x-oaiMeta"]["example"])


# Each correction README.md lists, with what the live API sends that the published document refuses.
CORRECTIONS = [
    ("chat chunk finish_reason null (nullable, the 3.0 way)", openapi.CHAT_CHUNK, chat_chunk(None)),
    ("completion chunk finish_reason null", openapi.COMPLETION_CHUNK, completion_chunk(None)),
    ("response.created usage and user null", "ResponseCreatedEvent", example_of("ResponseCreatedEvent")),
    (
        "embedding as base64",
        openapi.EMBEDDINGS,
        {
            "object": "list",
            "model": "m",
            "data": [{"object": "embedding", "index": 0, "embedding": "AACAPw=="}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        },
    ),
]


@pytest.mark.parametrize("name, schema, body", CORRECTIONS, ids=[c[0] for c in CORRECTIONS])
def test_each_correction_is_still_needed_and_accepts_what_the_live_api_sends(name, schema, body):
    assert openapi.violations(schema, body) == []
    published = openapi.registry_of(openapi.published())
    # The stream chunk of the legacy API is validated against the non-stream schema it reuses.
    as_published = openapi.COMPLETION if schema == openapi.COMPLETION_CHUNK else schema
    assert list(openapi.validator_in(published, as_published).iter_errors(body)), (
        f"the published document now accepts this ({name}): drop the correction"
    )


def test_corrections_keep_non_null_values_checked():
    assert openapi.violations(openapi.CHAT_CHUNK, chat_chunk("stop")) == []
    assert openapi.violations(openapi.CHAT_CHUNK, chat_chunk("finished"))
    assert openapi.violations(openapi.COMPLETION, completion_chunk(None))  # a final body must say why it ended


def test_sse_events_reads_event_and_data_lines():
    raw = b'event: response.created\ndata: {"a": 1}\n\ndata: [DONE]\n\n'
    assert openapi.parse_sse(raw) == [
        openapi.SSEEvent("response.created", '{"a": 1}'),
        openapi.SSEEvent(None, "[DONE]"),
    ]
