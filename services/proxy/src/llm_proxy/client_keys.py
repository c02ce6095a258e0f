"""Client keys (data and loading; auth.py checks them on each request): `Authorization: Bearer KEY`, from LLM_PROXY_API_KEYS and/or the file named by
LLM_PROXY_API_KEYS_FILE (a mounted Secret, reloaded when it changes).

The file is either one key per line, or YAML with per-key options:

    keys:
      - key: team-a-secret
        name: team-a                       # how logs and metrics name the client (never the key)
        models: [mock-gpt-model-0701]      # optional allowlist
        rate_limit: {requests_per_minute: 60, burst: 10}   # optional token bucket (limits.py)
        budget: {usd_per_day: 5.0, tokens_per_day: 200000}  # optional daily budget
        admin: true                        # may read GET /v1/usage

(key_options.py parses the options.) Keys from LLM_PROXY_API_KEYS share one optional limit,
LLM_PROXY_API_KEYS_RATE_LIMIT / _BURST. Keys are compared in constant time. With no key configured the proxy serves everyone (and
says so loudly at start).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .key_options import parse_admin, parse_budget, parse_rate_limit
from .quotas import Budget, RateLimit

log = logging.getLogger("llm_proxy.client_keys")


@dataclass
class ClientKey:
    name: str  # also what its rate-limit bucket and its usage are kept under
    digest: bytes = field(repr=False)
    models: frozenset[str] | None = None
    rate_limit: RateLimit | None = None
    budget: Budget | None = None
    admin: bool = False

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
            where = f"{source}: keys[{i}]"
            out.append(
                ClientKey(
                    str(spec.get("name") or f"key-{i + 1}"),
                    _digest(spec["key"].strip()),
                    frozenset(models) if models is not None else None,
                    rate_limit=parse_rate_limit(spec.get("rate_limit"), f"{where}.rate_limit"),
                    budget=parse_budget(spec.get("budget"), f"{where}.budget"),
                    admin=parse_admin(spec.get("admin"), f"{where}.admin"),
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


def load_client_keys(env_keys: str, path: Path | None, env_limit: RateLimit | None = None) -> ClientKeys:
    """Keys from LLM_PROXY_API_KEYS (each with `env_limit`, its own bucket) and the keys file."""
    keys = [
        ClientKey(f"env-{i + 1}", _digest(k.strip()), rate_limit=env_limit)
        for i, k in enumerate(env_keys.split(","))
        if k.strip()
    ]
    if path is not None:
        keys += _parse_file(Path(path).read_text(encoding="utf-8"), str(path))
    return ClientKeys(keys)
