"""llm_common.bodies and llm_common.seed: the request checks both services apply."""

from __future__ import annotations

import pytest

from llm_common.bodies import BodyError, check_chat, parse_object
from llm_common.seed import BOTH_OR_NEITHER, NOT_SEEN, SeedQuestionError, choose_question


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b'{"a": {"b": {"c": {"d": 1}}}}', "too_deep"),
        (b'{"model": "a", "model": "b"}', "duplicate_key"),
        (b'{"model": "a", "m\\u006fdel": "b"}', "duplicate_key"),
        (b'{"x": [{"k": 1, "k": 2}]}', "duplicate_key"),
    ],
)
def test_bodies_that_are_not_one_unambiguous_object_are_refused(raw, code):
    with pytest.raises(BodyError) as caught:
        parse_object(raw, max_depth=3)
    assert caught.value.code == code


def test_a_chat_body_is_checked_field_by_field():
    ok = check_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}, max_messages=2)
    assert (ok.model, ok.stream) == ("m", True)
    cases = [
        ({"messages": [{"role": "user"}]}, "model", "missing_field"),
        ({"model": 3, "messages": [{"role": "user"}]}, "model", "invalid_type"),
        ({"model": "m"}, "messages", "missing_field"),
        ({"model": "m", "messages": [{"role": "u"}] * 3}, "messages", "too_many_messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]", "invalid_type"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "invalid_type"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
        ({"model": "m", "messages": [{"role": "user"}], "stream": "yes"}, "stream", "invalid_type"),
    ]
    for body, param, code in cases:
        with pytest.raises(BodyError) as caught:
            check_chat(body, max_messages=2)
        assert (caught.value.param, caught.value.code) == (param, code), body


SAMPLES = ["first?", "second?"]


def inference(sample: bool, custom: bool, number: object = 1, question: object = "mine?") -> dict[str, object]:
    return {
        "sample_question": {"status": sample, "selected_question": number},
        "custom_question": {"status": custom, "your_question": question},
    }


def test_the_seed_rule_picks_one_question():
    assert choose_question(inference(True, False, 2), SAMPLES) == "second?"
    assert choose_question(inference(False, True), SAMPLES) == "mine?"
    for bad, status, fragment in [
        (inference(True, True), 400, BOTH_OR_NEITHER),
        (inference(False, False), 400, BOTH_OR_NEITHER),
        (inference(True, False, 3), 422, "valid question number range from 1 to 2"),
        (inference(True, False, True), 400, "must be a whole number"),
        (inference(False, True, question="  "), 400, "must be a non-empty string"),
        ({"sample_question": {"status": "yes"}, "custom_question": {"status": False}}, 400, "true or false"),
        ([], 400, "'inference' is required"),
    ]:
        with pytest.raises(SeedQuestionError) as caught:
            choose_question(bad, SAMPLES)
        assert caught.value.status == status and fragment in caught.value.message, bad


def test_a_sample_number_needs_the_list_seen_first_when_asked_to():
    with pytest.raises(SeedQuestionError) as caught:
        choose_question(inference(True, False), SAMPLES, has_seen_samples=lambda: False)
    assert (caught.value.status, caught.value.message) == (409, NOT_SEEN)
    assert choose_question(inference(True, False), SAMPLES, has_seen_samples=lambda: True) == "first?"
