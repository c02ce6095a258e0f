"""What the mock answers, whichever API asked: a function of the request's content only.

Every text-generating API (chat, Responses, legacy completions) reduces its request to a question,
a prompt token count and a token limit; the answer, its token counts and the digest its ids are
made from depend on nothing else, and are cached so a repeated request costs a dictionary look-up.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from . import tokens
from .knowledge import KnowledgeBase


@dataclass(frozen=True)
class Answer:
    """Everything about an answer that does not depend on the clock or the fault plan."""

    digest: str  # hex digest of the request's content: each API makes its ids from it
    text: str
    prompt_tokens: int
    completion_tokens: int
    truncated: bool  # cut at the request's token limit (finish_reason "length", status "incomplete")

    @property
    def finish_reason(self) -> str:
        return "length" if self.truncated else "stop"


def digest_of(material: object) -> str:
    """A stable hex digest of JSON-able request content."""
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class Answerer:
    """Answers from the knowledge pack, keyed by request content (bounded, least recently used out)."""

    def __init__(self, knowledge: KnowledgeBase, size: int = 2048) -> None:
        self.knowledge = knowledge
        self.size = size
        self._items: OrderedDict[str, Answer] = OrderedDict()

    def answer(
        self,
        *,
        material: object,
        model: str,
        question: Callable[[], str],
        prompt_tokens: Callable[[], int],
        max_tokens: int | None,
        response_tokens: int | None,
    ) -> Answer:
        """`material`: the request content the answer depends on, with the API's name in it.

        `question` and `prompt_tokens` are called only when the answer is not cached yet.
        """
        digest = digest_of([material, model, max_tokens, response_tokens])
        answer = self._items.get(digest)
        if answer is not None:
            self._items.move_to_end(digest)
            return answer
        # A requested length (benchmarks) replaces the knowledge answer with filler of exactly that many tokens.
        text = tokens.text_of_length(response_tokens) if response_tokens else self.knowledge.answer(question(), model)
        truncated = max_tokens is not None and tokens.count(text) > max_tokens
        if truncated:
            text = tokens.truncate_to_tokens(text, max_tokens or 0)
        answer = Answer(digest, text, prompt_tokens(), tokens.count(text), truncated)
        self._items[digest] = answer
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return answer
