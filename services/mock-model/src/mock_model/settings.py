"""Mock model settings: typed, documented defaults, loaded in one place (CLI flag > env > default)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "MOCK_MODEL_"


@dataclass(frozen=True)
class MockSettings:
    host: str = "0.0.0.0"  # bind address; `make run` passes 127.0.0.1
    port: int = 5050
    models: tuple[str, ...] = ("mock-gpt-model-0701",)  # listed by /v1/models; any name is answered
    knowledge: Path | None = None  # knowledge pack JSON; None = the packaged copy
    ttft_ms: float = 0.0  # delay before the first token (0: benchmarks measure the proxy, not us)
    token_delay_ms: float = 0.0  # delay between streamed content chunks
    tokens_per_chunk: int = 1  # tokens per streamed content chunk
    jitter_ms: float = 0.0  # uniform jitter added to each delay, drawn from `seed`
    fault: str = ""  # fault injected into a `fault_rate` share of requests (see faults.py)
    fault_rate: float = 0.0  # 0..1
    seed: int = 0  # seeds jitter and the configured fault draw, so runs repeat
    ft_step_seconds: float = 1.0  # fine-tuning jobs advance one state per this many seconds
    access_log: bool = False  # off: a log line per request costs more than the mock's own work
    log_level: str = "INFO"


TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off", ""})


def _convert(name: str, raw: str, current: object) -> Any:
    """The env value as the setting's type; a value that is not one is refused, naming the variable."""
    variable = ENV_PREFIX + name.upper()
    if name == "models":
        return tuple(m.strip() for m in raw.split(",") if m.strip())
    if name == "knowledge":
        return Path(raw) if raw else None
    if isinstance(current, bool):
        word = raw.strip().lower()
        if word not in TRUE | FALSE:
            raise ValueError(f"{variable}={raw!r}: expected true or false")
        return word in TRUE
    if isinstance(current, (int, float)):
        try:
            return type(current)(raw)
        except ValueError:
            kind = "a whole number" if isinstance(current, int) else "a number"
            raise ValueError(f"{variable}={raw!r}: expected {kind}") from None
    return raw


def from_env(environ: Mapping[str, str] | None = None, base: MockSettings | None = None) -> MockSettings:
    environ = os.environ if environ is None else environ
    base = base or MockSettings()
    values: dict[str, Any] = {}
    for f in fields(MockSettings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(f.name, raw, getattr(base, f.name))
    return replace(base, **values)


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> MockSettings:
    p = argparse.ArgumentParser(prog="mock-model", description="OpenAI-compatible mock model service")
    try:
        env_settings = from_env(environ)
    except ValueError as exc:
        p.error(str(exc))
    p.add_argument("--host", default=env_settings.host)
    p.add_argument("--port", type=int, default=env_settings.port)
    p.add_argument("--models", default=",".join(env_settings.models), help="comma-separated names for /v1/models")
    p.add_argument("--knowledge", type=Path, default=env_settings.knowledge, help="knowledge pack JSON")
    p.add_argument("--ttft-ms", type=float, default=env_settings.ttft_ms)
    p.add_argument("--token-delay-ms", type=float, default=env_settings.token_delay_ms)
    p.add_argument("--tokens-per-chunk", type=int, default=env_settings.tokens_per_chunk)
    p.add_argument("--jitter-ms", type=float, default=env_settings.jitter_ms)
    p.add_argument("--fault", default=env_settings.fault, help="fault kind for --fault-rate (see README)")
    p.add_argument("--fault-rate", type=float, default=env_settings.fault_rate)
    p.add_argument("--seed", type=int, default=env_settings.seed)
    p.add_argument("--ft-step-seconds", type=float, default=env_settings.ft_step_seconds)
    p.add_argument("--access-log", action="store_true", default=env_settings.access_log)
    p.add_argument("--log-level", default=env_settings.log_level)
    a = p.parse_args(argv)
    if not 0.0 <= a.fault_rate <= 1.0:
        p.error("--fault-rate must be between 0 and 1")
    if a.tokens_per_chunk < 1:
        p.error("--tokens-per-chunk must be at least 1")
    return MockSettings(
        host=a.host,
        port=a.port,
        models=tuple(m.strip() for m in a.models.split(",") if m.strip()),
        knowledge=a.knowledge,
        ttft_ms=a.ttft_ms,
        token_delay_ms=a.token_delay_ms,
        tokens_per_chunk=a.tokens_per_chunk,
        jitter_ms=a.jitter_ms,
        fault=a.fault,
        fault_rate=a.fault_rate,
        seed=a.seed,
        ft_step_seconds=a.ft_step_seconds,
        access_log=a.access_log,
        log_level=a.log_level,
    )
