"""Mock model settings: one typed dataclass with documented defaults, loaded in one place.

Precedence: command-line flag > environment variable (`MOCK_MODEL_<NAME>`) > settings file
(`--config FILE` / `MOCK_MODEL_CONFIG`, YAML with the field names as keys) > the defaults below.
Values are converted strictly by `llm_common.settings`, as the proxy's are; docs/configuration.md
is generated from this class.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from llm_common.settings import from_command_line, setting

ENV_PREFIX = "MOCK_MODEL_"

# What a fault plan can inject (docs/mock-model.md says what each looks like to a client).
FaultKind = Literal[
    "status", "rate_limit", "context_length", "stall_headers", "stall_stream", "cut", "malformed", "no_done", "reset"
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))


@dataclass(frozen=True)
class MockSettings:
    host: str = setting("0.0.0.0", "Address to listen on; `make run` passes 127.0.0.1.")
    port: int = setting(5050, "Port to listen on.", minimum=1, maximum=65535)
    models: tuple[str, ...] = setting(
        ("mock-gpt-model-0701",), "Model names `/v1/models` lists, comma-separated (any name gets an answer)."
    )
    knowledge: Path | None = setting(
        None, "Knowledge pack file (JSON) the answers come from; unset: the packaged copy."
    )
    ttft_ms: float = setting(
        0.0, "Milliseconds before the first token (0: a benchmark measures the proxy, not the mock).", minimum=0
    )
    token_delay_ms: float = setting(0.0, "Milliseconds between streamed pieces of an answer.", minimum=0)
    tokens_per_chunk: int = setting(1, "Tokens per streamed piece of an answer.", minimum=1)
    jitter_ms: float = setting(
        0.0, "Uniform jitter added to each delay, in milliseconds, drawn from `seed`.", minimum=0
    )
    fault: FaultKind | None = setting(None, "Fault injected into a `fault_rate` share of requests; unset: none.")
    fault_rate: float = setting(0.0, "Share of requests that get `fault`.", minimum=0, maximum=1)
    seed: int = setting(0, "Seeds the jitter and the configured fault draw, so runs repeat.")
    ft_step_seconds: float = setting(1.0, "Seconds a fine-tuning job spends in each state.", minimum=0)
    access_log: bool = setting(
        False, "aiohttp's access log (off by default: a line per request costs more than the mock's own work)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting("INFO", "Lowest level logged.")


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> MockSettings:
    p = argparse.ArgumentParser(prog="mock-model", description="OpenAI-compatible mock model service")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", help="port (default 5050)")
    p.add_argument("--models", help="comma-separated names for /v1/models")
    p.add_argument("--knowledge", help="knowledge pack JSON (default: packaged)")
    p.add_argument("--ttft-ms")
    p.add_argument("--token-delay-ms")
    p.add_argument("--tokens-per-chunk")
    p.add_argument("--jitter-ms")
    p.add_argument("--fault", help=f"fault for --fault-rate: {', '.join(sorted(FAULT_KINDS))}")
    p.add_argument("--fault-rate")
    p.add_argument("--seed")
    p.add_argument("--ft-step-seconds")
    p.add_argument("--access-log", action="store_const", const="true", default=None)
    p.add_argument("--log-level")
    return from_command_line(MockSettings, ENV_PREFIX, p, argv, environ)
