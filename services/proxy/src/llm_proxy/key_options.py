"""The per-key options of a YAML client-keys entry beyond the key, its name and its models:

    rate_limit: {requests_per_minute: 60, burst: 10}     # token bucket (burst: 10 s worth by default)
    budget: {usd_per_day: 5.0, tokens_per_day: 200000}   # either or both; UTC days
    admin: true                                          # may read GET /v1/usage

Each parser raises ValueError naming the entry's path (`keys[2].budget.usd_per_day`), never a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_errors import kind
from .quotas import Budget, RateLimit


def _positive(value: Any, where: str, *, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value <= 0:
        raise ValueError(f"{where}: must be a positive {'whole number' if whole else 'number'}, got {kind(value)}")
    return float(value)


def parse_rate_limit(value: Any, where: str) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not set(value) <= {"requests_per_minute", "burst"}:
        raise ValueError(f"{where}: must be a mapping with requests_per_minute (and optionally burst)")
    per_minute = _positive(value.get("requests_per_minute"), f"{where}.requests_per_minute")
    burst = value.get("burst")
    if burst is not None:
        burst = _positive(burst, f"{where}.burst")
        if burst < 1:
            raise ValueError(f"{where}.burst: must be at least 1")
    return RateLimit.of(per_minute, burst)


def parse_budget(value: Any, where: str) -> Budget | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value or not set(value) <= {"usd_per_day", "tokens_per_day"}:
        raise ValueError(f"{where}: must be a mapping with usd_per_day and/or tokens_per_day")
    usd = value.get("usd_per_day")
    tokens = value.get("tokens_per_day")
    return Budget(
        _positive(usd, f"{where}.usd_per_day") if usd is not None else None,
        int(_positive(tokens, f"{where}.tokens_per_day", whole=True)) if tokens is not None else None,
    )


def parse_admin(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{where}: must be true or false, got {kind(value)}")
    return value
