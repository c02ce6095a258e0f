"""Client keys (data and loading; auth.py checks them on each request): `Authorization: Bearer KEY`, from LLM_PROXY_API_KEYS and/or the file named by
LLM_PROXY_API_KEYS_FILE (a mounted Secret, reloaded when it changes).

The file is either one key per line, or YAML with per-key options:

    keys:
      - key: team-a-secret
        name: team-a                       # how logs and metrics name the client (never the key)
        models: [mock-gpt-model-0701]      # optional allowlist
        rate_limit: {requests_per_minute: 60, burst: 10}   # optional token bucket

Keys are compared in constant time. With no key configured the proxy serves everyone (and
says so loudly at start).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger("llm_proxy.client_keys")


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 if a request may pass now, else the seconds until it may."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class ClientKey:
    name: str
    digest: bytes = field(repr=False)
    models: frozenset[str] | None = None
    bucket: Bucket | None = None

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _parse_file(text: str, source: str) -> list[ClientKey]:
    doc = None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        pass
    if isinstance(doc, dict) and "keys" in doc:
        out = []
        for i, spec in enumerate(doc["keys"] or []):
            if not isinstance(spec, dict) or not isinstance(spec.get("key"), str) or not spec["key"].strip():
                raise ValueError(f"{source}: keys[{i}].key must be a non-empty string")
            models = spec.get("models")
            if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
                raise ValueError(f"{source}: keys[{i}].models must be a list of model names")
            bucket = None
            limit = spec.get("rate_limit")
            if limit is not None:
                rpm = limit.get("requests_per_minute") if isinstance(limit, dict) else None
                if isinstance(rpm, bool) or not isinstance(rpm, (int, float)) or rpm <= 0:
                    raise ValueError(f"{source}: keys[{i}].rate_limit.requests_per_minute must be a positive number")
                burst = float(limit.get("burst", max(1.0, rpm / 6)))
                bucket = Bucket(rpm / 60.0, burst, burst, time.monotonic())
            out.append(
                ClientKey(
                    str(spec.get("name") or f"key-{i + 1}"),
                    _digest(spec["key"].strip()),
                    frozenset(models) if models is not None else None,
                    bucket,
                )
            )
        return out
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [ClientKey(f"key-{i + 1}", _digest(k)) for i, k in enumerate(lines)]


class ClientKeys:
    def __init__(self, keys: list[ClientKey]) -> None:
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str) -> ClientKey | None:
        digest = _digest(presented)
        found = None
        for key in self.keys:  # compare against every key: the time taken says nothing
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


def load_client_keys(env_keys: str, path: Path | None) -> ClientKeys:
    keys = [ClientKey(f"env-{i + 1}", _digest(k.strip())) for i, k in enumerate(env_keys.split(",")) if k.strip()]
    if path is not None:
        keys += _parse_file(Path(path).read_text(encoding="utf-8"), str(path))
    return ClientKeys(keys)
