"""The original system's question rule, which the proxy and the mock both apply to `/send_inference`.

A request picks exactly one of a sample question (by its 1-based number) or a custom question.
The messages are the original system's, word for word, so its clients keep working; the status
codes fit the error (the original answered everything with the same code).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

BOTH_OR_NEITHER = (
    "You are only allowed to choose either make custom question or pick one from the list of sample questions"
)
NOT_SEEN = (
    "You have not seen the list of sample questions yet, please proceed to look at sample questions and "
    "choose one of your interest"
)


class SeedQuestionError(ValueError):
    """The inference part of a request breaks the rule; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedQuestionError(f"'{where}' is required and must be an object")
    return value


def choose_question(
    inference: Any, samples: Sequence[str], *, has_seen_samples: Callable[[], bool] | None = None
) -> str:
    """The question a request asks. `has_seen_samples`, when given, must be true before a sample
    number is accepted (the original refused numbers from clients that had not listed them)."""
    inference = _object(inference, "inference")
    sample = _object(inference.get("sample_question"), "inference.sample_question")
    custom = _object(inference.get("custom_question"), "inference.custom_question")
    for where, part in (("sample_question", sample), ("custom_question", custom)):
        if not isinstance(part.get("status"), bool):
            raise SeedQuestionError(f"'inference.{where}.status' is required and must be true or false")
    if sample["status"] == custom["status"]:
        raise SeedQuestionError(BOTH_OR_NEITHER)
    if custom["status"]:
        question = custom.get("your_question")
        if not isinstance(question, str) or not question.strip():
            raise SeedQuestionError("'inference.custom_question.your_question' must be a non-empty string")
        return question
    number = sample.get("selected_question")
    if isinstance(number, bool) or not isinstance(number, int):
        raise SeedQuestionError("'inference.sample_question.selected_question' must be a whole number")
    if has_seen_samples is not None and not has_seen_samples():
        raise SeedQuestionError(NOT_SEEN, status=409)
    if not 1 <= number <= len(samples):
        raise SeedQuestionError(
            f"The question number {number} you entered is not valid, valid question number range "
            f"from 1 to {len(samples)}",
            status=422,
        )
    return samples[number - 1]
