"""Latency and fault plans: what a request asked for (headers) on top of the configured defaults.

Headers (case-insensitive), all optional:
  X-Mock-TTFT-Ms, X-Mock-Token-Delay-Ms, X-Mock-Tokens-Per-Chunk, X-Mock-Jitter-Ms,
  X-Mock-Response-Tokens  latency model and answer length
  X-Mock-Fault            one of FAULT_KINDS (settings.py)
  X-Mock-Status           status for `status` (default 500)
  X-Mock-Retry-After      seconds for `rate_limit` (default 1)
  X-Mock-Stall-Ms         stall length for `stall_headers` / `stall_stream` (default 30000)
  X-Mock-Fault-After      content chunks sent before a stream fault (default 1)
  X-Mock-Fail-Times, X-Mock-Fault-Key   the first N requests with this key get the fault
A model name suffix works too: `mock-gpt-model-0701@fault=rate_limit` (useful for clients that
cannot set headers).

Every knob is bounded (`LIMITS`; a value outside is a 400 `invalid_header`), so no request can
keep the mock busy: waits are asyncio sleeps that a shutdown cancels, answers have at most
`MAX_RESPONSE_TOKENS` tokens, and the attempts per fault key are kept for the latest
`MAX_FAULT_KEYS` keys only.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .errors import InvalidRequest
from .settings import FAULT_KINDS, MockSettings


@dataclass(frozen=True)
class Plan:
    ttft_ms: float = 0.0
    token_delay_ms: float = 0.0
    tokens_per_chunk: int = 1
    jitter_ms: float = 0.0
    response_tokens: int | None = None
    fault: str = ""
    status: int = 500
    retry_after: float = 1.0
    stall_ms: float = 30000.0
    fault_after: int = 1
    attempt: int = 1


MAX_RESPONSE_TOKENS = 16384
MAX_FAULT_KEYS = 10_000
MAX_FAULT_KEY_LENGTH = 128
# (lowest, highest) accepted value of each numeric knob.
LIMITS: dict[str, tuple[float, float]] = {
    "x-mock-ttft-ms": (0, 300_000),  # five minutes: past any proxy's first-byte timeout
    "x-mock-stall-ms": (0, 300_000),
    "x-mock-token-delay-ms": (0, 10_000),
    "x-mock-jitter-ms": (0, 10_000),
    "x-mock-tokens-per-chunk": (1, MAX_RESPONSE_TOKENS),
    "x-mock-response-tokens": (1, MAX_RESPONSE_TOKENS),
    "x-mock-status": (400, 599),
    "x-mock-retry-after": (0, 3600),
    "x-mock-fault-after": (0, MAX_RESPONSE_TOKENS),
    "x-mock-fail-times": (0, 1000),
}


def _invalid(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"header {name}: {message}", param=name, code="invalid_header")


def _number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    low, high = LIMITS[name]
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _invalid(name, "not a number")
    if not low <= value <= high:
        raise _invalid(name, f"must be between {low:g} and {high:g}")
    return value


def _float(headers: Mapping[str, str], name: str, default: float) -> float:
    value = _number(headers, name)
    return default if value is None else value


def _int(headers: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int(headers, name)
    return default if value is None else value


def _optional_int(headers: Mapping[str, str], name: str) -> int | None:
    value = _number(headers, name)
    if value is None:
        return None
    if not value.is_integer():
        raise InvalidRequest(f"header {name}: must be a whole number", param=name, code="invalid_header")
    return int(value)


class FaultState:
    """Per-process state: attempts seen per fault key, and the seeded draw for the fault rate."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.attempts: OrderedDict[str, int] = OrderedDict()  # per fault key, the latest MAX_FAULT_KEYS
        self.rng = random.Random(settings.seed)

    def count_attempt(self, key: str) -> int:
        if len(key) > MAX_FAULT_KEY_LENGTH:
            raise _invalid("x-mock-fault-key", f"at most {MAX_FAULT_KEY_LENGTH} characters")
        attempt = self.attempts.pop(key, 0) + 1
        self.attempts[key] = attempt
        if len(self.attempts) > MAX_FAULT_KEYS:
            self.attempts.popitem(last=False)
        return attempt

    def jitter(self, plan: Plan) -> float:
        return self.rng.uniform(0, plan.jitter_ms) if plan.jitter_ms else 0.0

    def plan(self, headers: Mapping[str, str], model_suffix: dict[str, str]) -> Plan:
        s = self.settings
        merged = {f"X-Mock-{k.replace('_', '-')}": v for k, v in model_suffix.items()}
        merged.update({k: v for k, v in headers.items() if k.lower().startswith("x-mock-")})
        h = {k.lower(): v for k, v in merged.items()}
        plan = Plan(
            ttft_ms=_float(h, "x-mock-ttft-ms", s.ttft_ms),
            token_delay_ms=_float(h, "x-mock-token-delay-ms", s.token_delay_ms),
            tokens_per_chunk=_int(h, "x-mock-tokens-per-chunk", s.tokens_per_chunk),
            jitter_ms=_float(h, "x-mock-jitter-ms", s.jitter_ms),
            response_tokens=_optional_int(h, "x-mock-response-tokens"),
            status=_int(h, "x-mock-status", 500),
            retry_after=_float(h, "x-mock-retry-after", 1.0),
            stall_ms=_float(h, "x-mock-stall-ms", 30000.0),
            fault_after=_int(h, "x-mock-fault-after", 1),
        )
        fault = h.get("x-mock-fault", "").strip()
        if fault and fault not in FAULT_KINDS:
            raise InvalidRequest(
                f"header X-Mock-Fault: unknown fault {fault!r} (known: {', '.join(sorted(FAULT_KINDS))})",
                param="X-Mock-Fault",
                code="invalid_header",
            )
        key = h.get("x-mock-fault-key")
        fail_times = _optional_int(h, "x-mock-fail-times")
        if key:
            plan = replace(plan, attempt=self.count_attempt(key))
        if fail_times is not None:
            # Fail-then-succeed: the fault applies only to the first N attempts of this key.
            if not key:
                raise InvalidRequest(
                    "header X-Mock-Fail-Times needs X-Mock-Fault-Key", param="X-Mock-Fault-Key", code="invalid_header"
                )
            if plan.attempt <= fail_times:
                fault = fault or "status"
                if plan.status == 500 and "x-mock-status" not in h:
                    plan = replace(plan, status=503)
            else:
                fault = ""
        elif not fault and s.fault and s.fault_rate > 0 and self.rng.random() < s.fault_rate:
            fault = s.fault
        return replace(plan, fault=fault)


def split_model_suffix(model: str) -> tuple[str, dict[str, str]]:
    """`name@fault=cut,fault_after=3` -> ("name", {"fault": "cut", "fault_after": "3"})."""
    if "@" not in model:
        return model, {}
    name, _, spec = model.partition("@")
    options: dict[str, str] = {}
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            options[k.strip()] = v.strip()
    return name, options
