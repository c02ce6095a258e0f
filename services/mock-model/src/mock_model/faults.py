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
"""

from __future__ import annotations

import math
import random
from collections import Counter
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


def _number(headers: Mapping[str, str], name: str, low: float) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
    except ValueError:
        raise InvalidRequest(f"header {name}: {raw!r} is not a number", param=name, code="invalid_header") from None
    if value < low:
        raise InvalidRequest(f"header {name}: must be at least {low:g}", param=name, code="invalid_header")
    return value


def _float(headers: Mapping[str, str], name: str, default: float, low: float = 0) -> float:
    value = _number(headers, name, low)
    return default if value is None else value


def _int(headers: Mapping[str, str], name: str, default: int, low: int = 0) -> int:
    value = _optional_int(headers, name, low)
    return default if value is None else value


def _optional_int(headers: Mapping[str, str], name: str, low: int = 0) -> int | None:
    value = _number(headers, name, low)
    if value is None:
        return None
    if not value.is_integer():
        raise InvalidRequest(f"header {name}: must be a whole number", param=name, code="invalid_header")
    return int(value)


class FaultState:
    """Per-process state: attempts seen per fault key, and the seeded draw for the fault rate."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.attempts: Counter[str] = Counter()
        self.rng = random.Random(settings.seed)

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
            tokens_per_chunk=_int(h, "x-mock-tokens-per-chunk", s.tokens_per_chunk, low=1),
            jitter_ms=_float(h, "x-mock-jitter-ms", s.jitter_ms),
            response_tokens=_optional_int(h, "x-mock-response-tokens", low=1),
            status=_int(h, "x-mock-status", 500, low=100),
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
            self.attempts[key] += 1
            plan = replace(plan, attempt=self.attempts[key])
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
