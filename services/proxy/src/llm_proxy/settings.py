"""Proxy settings: one typed dataclass with documented defaults, loaded in one place.

Precedence: command-line flag > environment variable (`LLM_PROXY_<NAME>`) > settings file
(`--config FILE` / `LLM_PROXY_CONFIG`, YAML with the field names as keys) > the defaults below.
Values are converted strictly by `llm_common.settings` (the mock model loads its settings the
same way); docs/configuration.md is generated from this class.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llm_common.settings import from_command_line, setting

ENV_PREFIX = "LLM_PROXY_"


@dataclass(frozen=True)
class ProxySettings:
    host: str = setting("0.0.0.0", "Address to listen on; `make run` passes 127.0.0.1.")
    port: int = setting(8000, "Port to listen on.", minimum=1, maximum=65535)
    routes: Path | None = setting(None, "Routing table file (YAML); unset: the packaged local table.")
    routes_overlay: Path | None = setting(
        None,
        "Routes overlay: a file or a directory of `*.yaml` merged over the routing table (published fine-tunes); "
        "may not exist yet.",
    )
    knowledge: Path | None = setting(None, "Knowledge pack file (JSON); unset: the packaged pack.")
    reload_interval: float = setting(
        1.0, "Seconds between checks of the routes, knowledge and client-keys files.", minimum=0.05
    )
    log_format: Literal["text", "json"] = setting("text", "`text`, or `json` for one JSON object per line.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO", "Lowest level logged; `WARNING` also turns request lines off."
    )
    log_requests: bool = setting(True, "One structured line per request.")
    access_log: bool = setting(False, "aiohttp's own access log (the request line above says more).")
    max_body_bytes: int = setting(1_048_576, "Larger request bodies get 413.", minimum=1024)
    max_messages: int = setting(256, "More messages in one chat request get 400.", minimum=1)
    max_n: int = setting(
        8,
        "Largest `n` (and legacy `best_of`) a request may ask for; more get 400. A model's `limits:` may say otherwise.",
        minimum=1,
        maximum=128,
    )
    max_output_tokens: int = setting(
        32768,
        "Largest `max_tokens` / `max_completion_tokens` / `max_output_tokens` a request may ask for; more get 400. "
        "A model's `limits:` may say otherwise.",
        minimum=1,
    )
    max_content_depth: int = setting(8, "Deeper JSON nesting in a request body gets 400.", minimum=2)
    max_upstream_body_bytes: int = setting(
        33_554_432,
        "Largest whole (not streamed) upstream answer passed on; a larger one is dropped with 502 "
        "`upstream_response_too_large` (it would be held in memory whole).",
        minimum=65536,
    )
    retry_attempts: int = setting(3, "Attempts per model, the first included.", minimum=1, maximum=10)
    request_attempts: int = setting(
        5, "Upstream calls one request may make in all, across its retries and fallbacks.", minimum=1, maximum=30
    )
    retry_backoff: float = setting(
        0.2, "Seconds before the first retry, doubled per retry, with full jitter.", minimum=0
    )
    retry_backoff_max: float = setting(2.0, "Longest backoff between retries, in seconds.", minimum=0)
    retry_after_max: float = setting(
        5.0, "An upstream `Retry-After` longer than this many seconds is capped.", minimum=0
    )
    request_budget: float = setting(
        60.0, "Seconds a request may spend on retries and fallbacks before giving up.", minimum=0.1
    )
    breaker_failures: int = setting(5, "Consecutive failures that open a backend's circuit.", minimum=1)
    breaker_cooldown: float = setting(15.0, "Seconds a circuit stays open before one trial request.", minimum=0)
    header_timeout: float = setting(
        10.0,
        "Seconds a client has to send a request's headers, from the connection's start or the request's first "
        "byte; then the connection is closed.",
        minimum=0.1,
    )
    body_timeout: float = setting(
        30.0, "Seconds a client has to send a request's body once its headers are in; then 408.", minimum=0.1
    )
    keepalive_timeout: float = setting(
        15.0, "Seconds an idle kept-alive client connection stays open between requests.", minimum=0.1
    )
    max_connections: int = setting(
        4096,
        "Client connections open at once; more get 503 and are closed (also capped to what the open-files limit fits).",
        minimum=1,
    )
    drain_delay: float = setting(
        3.0, "Seconds between SIGTERM (not ready) and closing the listener, for endpoints to catch up.", minimum=0
    )
    drain_grace: float = setting(25.0, "Seconds in-flight requests and streams get to finish after that.", minimum=0)
    allow_anonymous: bool = setting(
        False,
        "Serve clients without a key when none is configured (`--allow-anonymous`); off: the proxy refuses to start "
        "without client keys, and refuses a keys-file change that leaves none.",
    )
    api_keys: str = setting("", "Comma-separated client keys (prefer `api_keys_file`, a mounted Secret).")
    api_keys_file: Path | None = setting(None, "Client-keys file: one key per line, or YAML with per-key options.")
    metrics_require_key: bool = setting(False, "Require a client key for `/metrics` too.")
    api_keys_rate_limit: float = setting(
        0.0, "Requests per minute each key of `api_keys` may make (0: no limit; file keys set their own).", minimum=0
    )
    api_keys_burst: float = setting(0.0, "Burst of that limit (0: ten seconds' worth, at least 1).", minimum=0)
    auth_failures_per_minute: int = setting(
        30,
        "Failed authentications a source address may make per minute (and at once) before its requests "
        "get 429 without their key being looked at (0: no limit).",
        minimum=0,
    )
    trusted_proxy_hops: int = setting(
        0,
        "Proxies in front that append to X-Forwarded-For (an ingress: 1): the client address used to "
        "throttle failed authentications is the one they recorded; 0: the connection's peer.",
        minimum=0,
        maximum=10,
    )
    redis_url: str = setting(
        "",
        "Redis shared by all replicas (rate limits, budgets, usage, the seed's seen-samples): "
        "`redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for TLS; empty: all state in process.",
    )
    redis_url_file: Path | None = setting(
        None, "A file holding that URL (a mounted Secret, for a URL with a password); wins over `redis_url`."
    )
    redis_prefix: str = setting("llm-proxy:", "Prefix of every Redis key the proxy writes.")
    redis_timeout: float = setting(
        0.25,
        "Seconds a Redis call may take (event-loop delays included); past that, or on any error, the request "
        "uses in-process state and Redis is left alone until it answers a ping.",
        minimum=0.001,
        maximum=5,
    )
    redis_retry_interval: float = setting(
        1.0, "Seconds between checks of a Redis that stopped answering.", minimum=0.05
    )
    redis_log_interval: float = setting(
        60.0, "Redis errors are logged at most once per this many seconds (all are counted).", minimum=0
    )
    usage_retention_days: int = setting(
        8, "Days of usage kept in Redis (`GET /v1/usage?date=`).", minimum=1, maximum=400
    )


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> ProxySettings:
    p = argparse.ArgumentParser(prog="llm-proxy", description="Kubernetes-native LLM proxy")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", help="port (default 8000)")
    p.add_argument("--routes", help="routing table YAML (env LLM_PROXY_ROUTES; default: packaged table)")
    p.add_argument("--routes-overlay", help="overlay file or directory of *.yaml (env LLM_PROXY_ROUTES_OVERLAY)")
    p.add_argument("--knowledge", help="knowledge pack JSON (env LLM_PROXY_KNOWLEDGE; default: packaged)")
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--log-level")
    p.add_argument("--access-log", action="store_const", const="true", default=None)
    p.add_argument(
        "--allow-anonymous",
        action="store_const",
        const="true",
        default=None,
        help="serve clients without a key when no client keys are configured (env LLM_PROXY_ALLOW_ANONYMOUS)",
    )
    return from_command_line(ProxySettings, ENV_PREFIX, p, argv, environ)
