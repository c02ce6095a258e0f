"""Fine-tuning prices and limits, kept in one place. USD per 1M training tokens; the token limit
is per training example. Check https://openai.com/api/pricing before relying on a figure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseModel:
    name: str
    training_usd_per_million: float
    example_token_limit: int


BASE_MODELS = {
    m.name: m
    for m in (
        BaseModel("gpt-3.5-turbo-0125", 8.00, 16_385),
        BaseModel("gpt-3.5-turbo", 8.00, 16_385),
        BaseModel("gpt-4o-mini-2024-07-18", 3.00, 65_536),
        BaseModel("gpt-4o-2024-08-06", 25.00, 65_536),
        BaseModel("gpt-4.1-mini-2025-04-14", 5.00, 65_536),
        BaseModel("gpt-4.1-2025-04-14", 25.00, 65_536),
    )
}
DEFAULT_BASE_MODEL = "gpt-3.5-turbo-0125"


def base_model(name: str) -> BaseModel:
    if name in BASE_MODELS:
        return BASE_MODELS[name]
    for known in BASE_MODELS.values():  # a dated name we don't list: use its family's figures
        if name.startswith(known.name.rsplit("-", 3)[0]):
            return BaseModel(name, known.training_usd_per_million, known.example_token_limit)
    return BaseModel(
        name,
        BASE_MODELS[DEFAULT_BASE_MODEL].training_usd_per_million,
        BASE_MODELS[DEFAULT_BASE_MODEL].example_token_limit,
    )


# OpenAI's default epoch choice (from its data-preparation guide).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    epochs = TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, -(-MIN_TARGET_EXAMPLES // n_examples))
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs
