"""The candidate knowledge the mock answers from: the same pack the proxy grounds prompts in."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
MATCH_THRESHOLD = 0.6  # below this the question is not "close to" any known one

CANNED = (
    "This answer comes from the mock model ({model}), which does not call any real LLM. "
    "It only knows the candidate's stored questions; ask one of the sample questions "
    "(GET /get_sample_questions on the proxy) to get a stored fact back."
)
KNOWN = "[mock model {model}] From the candidate's knowledge pack: {answer}"


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Entry:
    prompt: str
    normalised: str
    words: frozenset[str]
    response: str


class KnowledgeBase:
    def __init__(self, pack: dict[str, Any]) -> None:
        self.pack = pack
        self.sample_questions: list[str] = list(pack.get("sample_questions", []))
        self.entries = [
            Entry(
                r["prompt"],
                _words(r["prompt"]),
                frozenset(_words(r["prompt"]).split()),
                " ".join(r["response"].split()),
            )
            for r in pack.get("rows", [])
        ]

    @classmethod
    def load(cls, path: Path | None) -> KnowledgeBase:
        if path is None:
            text = resources.files("mock_model").joinpath("data/knowledge.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls(json.loads(text))

    def match(self, question: str) -> tuple[Entry, float] | None:
        """The stored question closest to `question`, if it is close enough."""
        norm = _words(question)
        if not norm:
            return None
        words = frozenset(norm.split())
        best, best_score = None, 0.0
        for entry in self.entries:
            overlap = len(words & entry.words) / max(len(words | entry.words), 1)
            # The ratio is at most 2*shorter/(sum of lengths): when that cannot reach the threshold the
            # (quadratic) comparison is skipped, so a long question costs no more than a short one
            # (a 1 MB question used to hold the mock's event loop for minutes).
            shorter, longer = sorted((len(norm), len(entry.normalised)))
            if 2 * shorter < MATCH_THRESHOLD * (shorter + longer):
                score = overlap
            else:
                score = max(difflib.SequenceMatcher(None, norm, entry.normalised).ratio(), overlap)
            if score > best_score:
                best, best_score = entry, score
        return (best, best_score) if best is not None and best_score >= MATCH_THRESHOLD else None

    def answer(self, question: str, model: str) -> str:
        found = self.match(question)
        if found is None:
            return CANNED.format(model=model)
        return KNOWN.format(model=model, answer=found[0].response)
