"""Proxy settings: typed, with documented defaults, loaded in one place.

Precedence: command-line flag > environment variable (LLM_PROXY_<NAME>) > settings file
(`--config FILE` / LLM_PROXY_CONFIG, YAML with the same names) > the defaults below.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "LLM_PROXY_"


@dataclass(frozen=True)
class ProxySettings:
    host: str = "0.0.0.0"  # bind address; `make run` passes 127.0.0.1
    port: int = 8000
    routes: Path | None = None  # routing table file; None = the packaged local table
    routes_overlay: Path | None = None  # overlay file or directory of *.yaml merged over the routes (may not exist)
    knowledge: Path | None = None  # knowledge pack file; None = the packaged pack
    reload_interval: float = 1.0  # seconds between checks of the routes/knowledge files
    log_format: str = "text"  # text | json (JSON lines, one object per line)
    log_level: str = "INFO"
    log_requests: bool = True  # one structured line per request
    access_log: bool = False  # aiohttp's own access log; off, the request line above says more
    max_body_bytes: int = 1_048_576  # larger bodies get 413
    max_messages: int = 256  # more messages in one request get 400
    max_content_depth: int = 8  # deeper JSON nesting in a request body gets 400
    retry_attempts: int = 3  # attempts per model, the first included
    retry_backoff: float = 0.2  # seconds, doubled per retry, with full jitter
    retry_backoff_max: float = 2.0
    retry_after_max: float = 5.0  # an upstream Retry-After longer than this is capped
    request_budget: float = 60.0  # total seconds for retries and fallbacks before giving up
    breaker_failures: int = 5  # consecutive failures that open a backend's circuit
    breaker_cooldown: float = 15.0  # seconds open before one probe request is let through
    drain_delay: float = 3.0  # seconds between SIGTERM (not ready) and closing the listener
    drain_grace: float = 25.0  # seconds in-flight requests get to finish after that
    api_keys: str = ""  # comma-separated client keys (prefer api_keys_file: a mounted Secret)
    api_keys_file: Path | None = None
    metrics_require_key: bool = False  # protect /metrics with a client key too

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(ProxySettings)}[name]
    if raw is None:
        return None
    if "Path" in str(kind):
        return Path(raw) if str(raw) else None
    if "bool" in str(kind):
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if "int" in str(kind):
        return int(raw)
    if "float" in str(kind):
        return float(raw)
    return str(raw)


def load_settings(
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> ProxySettings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or (Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None)
    if config_file:
        doc = yaml.safe_load(Path(config_file).read_text()) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"{config_file}: settings file must be a mapping")
        for key, raw in doc.items():
            if key not in ProxySettings.field_names():
                raise ValueError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, raw)
    for name in ProxySettings.field_names():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    for name, raw in (cli or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    settings = replace(ProxySettings(), **values)
    if settings.log_format not in ("text", "json"):
        raise ValueError(f"log_format must be text or json, got {settings.log_format!r}")
    return settings


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> ProxySettings:
    p = argparse.ArgumentParser(prog="llm-proxy", description="Kubernetes-native LLM proxy")
    p.add_argument("--host", help="bind address (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--routes", help="routing table YAML (env LLM_PROXY_ROUTES; default: packaged table)")
    p.add_argument("--routes-overlay", help="overlay file or directory of *.yaml (env LLM_PROXY_ROUTES_OVERLAY)")
    p.add_argument("--knowledge", help="knowledge pack JSON (env LLM_PROXY_KNOWLEDGE; default: packaged)")
    p.add_argument("--config", type=Path, help="settings file (YAML; env LLM_PROXY_CONFIG)")
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--log-level")
    p.add_argument("--access-log", action="store_true", default=None)
    args = vars(p.parse_args(argv))
    config = args.pop("config")
    try:
        return load_settings(args, environ, config)
    except (ValueError, OSError) as exc:
        p.error(str(exc))
        raise  # unreachable: p.error exits
