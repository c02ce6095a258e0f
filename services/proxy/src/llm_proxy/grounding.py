"""Ground a question in the candidate knowledge pack: rank the pack's facts, keep the best within a token budget.

The seed sent every row of its dataset with every question. Here each fact (rows that share a
`fact` slug) is one document; BM25 ranks the facts against the question using word terms plus
character trigrams (so "birthdy" still finds "birthday"), and the context keeps the top facts
until `max_facts` or the token budget runs out. The ranker is built once per knowledge pack and
reused for every request.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
# Words that carry no meaning for finding a fact; names are kept (IDF down-weights them anyway).
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "she",
        "so",
        "some",
        "tell",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "up",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "more",
        "give",
        "me",
        "list",
        "detail",
        "details",
    ]
)
TRIGRAM_WEIGHT = 0.35  # trigrams rescue typos but must not outvote exact words


def _stem(word: str) -> str:
    # A light plural strip, enough for "languages"/"language", "projects"/"project", "hobbies".
    if len(word) <= 3 or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


Bag = dict[str, float]  # term -> weight (fractional: trigrams weigh less than words)


def terms(text: str) -> Bag:
    """Weighted bag of terms: stemmed words plus their character trigrams."""
    bag: Bag = {}
    for raw in _WORD.findall(text.lower()):
        if raw in _STOPWORDS:
            continue
        word = _stem(raw)
        bag["w:" + word] = bag.get("w:" + word, 0.0) + 1.0
        padded = f"^{word}$"
        for i in range(len(padded) - 2):
            trigram = "t:" + padded[i : i + 3]
            bag[trigram] = bag.get(trigram, 0.0) + TRIGRAM_WEIGHT
    return bag


def _merged(*bags: Bag) -> Bag:
    out: Bag = {}
    for bag in bags:
        for term, weight in bag.items():
            out[term] = out.get(term, 0.0) + weight
    return out


@dataclass(frozen=True)
class Fact:
    """One fact of the pack: the rows that answer it, and the text that goes into a prompt."""

    slug: str
    questions: tuple[str, ...]
    answer: str
    tokens: int


@dataclass
class Bm25Index:
    """Okapi BM25 over facts. Each fact's document is its questions and its answer."""

    facts: Sequence[Fact]
    k1: float = 1.2
    b: float = 0.75
    _docs: list[Bag] = field(init=False, repr=False)
    _lengths: list[float] = field(init=False, repr=False)
    _idf: dict[str, float] = field(init=False, repr=False)
    _avg_length: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._docs = []
        for fact in self.facts:
            # Questions are what users ask, so they count twice against the answer's wording.
            asked = terms(" ".join(fact.questions))
            self._docs.append(_merged(asked, asked, terms(fact.answer)))
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        q = terms(query)
        out = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self._avg_length)
            score = 0.0
            for term, q_weight in q.items():
                tf = doc.get(term)
                if tf:
                    score += q_weight * self._idf[term] * tf * (self.k1 + 1) / (tf + norm)
            out.append(score)
        return out

    def rank(self, query: str) -> list[tuple[Fact, float]]:
        scored = [(f, s) for f, s in zip(self.facts, self.scores(query), strict=True) if s > 0]
        scored.sort(key=lambda fs: fs[1], reverse=True)
        return scored


@dataclass(frozen=True)
class GroundingConfig:
    """How much context a grounded prompt may carry."""

    max_facts: int = 3  # the top-k facts
    token_budget: int = 900  # tokens of fact text at most (the system prompt is extra)
    min_relative_score: float = 0.2  # drop facts scoring under this share of the best one
    # Characters of the question that are ranked: ranking costs CPU on the event loop in proportion
    # to the text (1 MiB took about half a second, stalling every other request and health check),
    # and a question's first 2 KiB say what it is about. The model still gets the whole text.
    max_question_chars: int = 2048


@dataclass(frozen=True)
class Grounding:
    """The context chosen for one question."""

    facts: tuple[Fact, ...]
    system_message: str

    @property
    def fact_slugs(self) -> tuple[str, ...]:
        return tuple(f.slug for f in self.facts)


CONTEXT_INTRO = (
    "Answer using only the facts below about the candidate. If they do not cover the question, "
    "say that you do not know rather than guessing."
)


class Grounder:
    """Built once per knowledge pack; `ground(question)` is what a request calls."""

    def __init__(
        self,
        pack: Mapping[str, Any],
        count_tokens: Callable[[str], int] | None = None,
        config: GroundingConfig = GroundingConfig(),
    ) -> None:
        self.pack = pack
        self.config = config
        self.count_tokens = count_tokens or estimate_tokens
        self.system_prompt: str = pack.get("system_prompt", "")
        self.facts = tuple(_facts_of(pack, self.count_tokens))
        self.index = Bm25Index(self.facts)

    def ground(self, question: str) -> Grounding:
        chosen: list[Fact] = []
        used = 0
        ranked = self.index.rank(question[: self.config.max_question_chars])
        best = ranked[0][1] if ranked else 0.0
        for fact, score in ranked:
            if len(chosen) >= self.config.max_facts or score < best * self.config.min_relative_score:
                break
            if used + fact.tokens > self.config.token_budget:
                continue  # a smaller, lower-ranked fact may still fit
            chosen.append(fact)
            used += fact.tokens
        return Grounding(tuple(chosen), self._system_message(chosen))

    def _system_message(self, facts: Sequence[Fact]) -> str:
        if not facts:
            return f"{self.system_prompt}\n\nNo stored fact matches this question; say so briefly."
        body = "\n\n".join(f"- {f.answer}" for f in facts)
        return f"{self.system_prompt}\n\n{CONTEXT_INTRO}\n\n{body}"

    def seed_style_prompt(self) -> str:
        """What the seed sent: the system prompt and every row, for comparing token counts."""
        rows = "\n".join(f"Q: {r['prompt']}\nA: {r['response']}" for r in self.pack.get("rows", []))
        return f"{self.system_prompt}\n\n{rows}"


def _facts_of(pack: Mapping[str, Any], count_tokens: Callable[[str], int]) -> list[Fact]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in pack.get("rows", []):
        grouped.setdefault(row.get("fact") or row.get("id") or row["prompt"], []).append(row)
    facts = []
    for slug, rows in grouped.items():
        # The sample-question row is the canonical wording; otherwise the longest answer is the fullest.
        canonical = next((r for r in rows if r.get("sample")), None) or max(rows, key=lambda r: len(r["response"]))
        answer = " ".join(canonical["response"].split())
        # Packs carry cl100k token counts computed when they were built, so the proxy needs no
        # tokenizer (and its ~40 MiB of tables) at run time.
        tokens = canonical.get("response_tokens")
        if not isinstance(tokens, int):
            tokens = count_tokens(answer)
        facts.append(Fact(slug, tuple(r["prompt"] for r in rows), answer, tokens))
    return facts


def ground_messages(grounder: Grounder, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a `context: knowledge` route: a grounded system message, then the user's turns.

    A client's own system messages are kept after ours, so they can still steer tone or format.
    """
    question = last_user_text(messages)
    grounding = grounder.ground(question) if question else None
    if grounding is None:
        return messages
    return [{"role": "system", "content": grounding.system_message}, *messages]


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # OpenAI content parts
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def estimate_tokens(text: str) -> int:
    """About four characters a token for English (cl100k_base); used only when a pack lacks counts."""
    return max(1, (len(text) + 3) // 4)
