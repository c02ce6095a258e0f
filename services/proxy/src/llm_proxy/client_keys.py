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
LLM_PROXY_API_KEYS_RATE_LIMIT / _BURST. Keys are compared in constant time. A file that is neither
a plain list nor valid YAML `keys:` is refused, so it never fails open. Without any key the proxy
does not start (nor takes a reload that leaves none) unless anonymous access is asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_errors import field_names, kind, yaml_problem
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
    short: bool = False  # shorter than STRONG_KEY_LENGTH: guessable, warned about at load

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


# Shorter keys still work (tests and demos use them) but are named in a warning at every load:
# 20 random characters is about what `openssl rand -hex 16` gives and what OpenAI's keys exceed.
STRONG_KEY_LENGTH = 20


def _client_key(name: str, key: str, **options: Any) -> ClientKey:
    return ClientKey(name, _digest(key), short=len(key) < STRONG_KEY_LENGTH, **options)


# A key is visible ASCII without spaces (what a bearer token can carry), so nothing about it
# depends on how a client or a file strips whitespace.
_KEY = re.compile(r"^[\x21-\x7e]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # goes into logs and metric labels
ENTRY_FIELDS = frozenset({"key", "name", "models", "rate_limit", "budget", "admin"})
NO_KEYS = (
    "no client keys are configured, so anyone who reaches the proxy could use it (and spend its backends' keys). "
    "Set LLM_PROXY_API_KEYS_FILE (a mounted Secret; one key per line, or YAML) or LLM_PROXY_API_KEYS, "
    "or start with --allow-anonymous / LLM_PROXY_ALLOW_ANONYMOUS=true to serve anyone on purpose"
)


def _is_plain_list(lines: list[str]) -> bool:
    """One key per line: every line a key, with no space or `:` (YAML starts with neither)."""
    return all(_KEY.match(line) and ":" not in line and not line.startswith(("-", "{", "[")) for line in lines)


def _entry(spec: Any, i: int, source: str) -> ClientKey:
    where = f"{source}: keys[{i}]"
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: must be a mapping with key (and optionally name, models, rate_limit...)")
    unknown = set(spec) - ENTRY_FIELDS
    if unknown:  # a misspelt `models` must not leave the key unrestricted
        known = ", ".join(sorted(ENTRY_FIELDS))
        raise ValueError(f"{where}: unknown field(s) {field_names(unknown)} (known: {known})")
    key = spec.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"{where}.key: must be visible ASCII characters without spaces, got {kind(key)}")
    name = spec.get("name", f"key-{i + 1}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}.name: must be letters, digits and ._- (at most 64), got {kind(name)}")
    models = spec.get("models")
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
        raise ValueError(f"{where}.models: must be a list of model names")
    return _client_key(
        name,
        key,
        models=frozenset(models) if models is not None else None,
        rate_limit=parse_rate_limit(spec.get("rate_limit"), f"{where}.rate_limit"),
        budget=parse_budget(spec.get("budget"), f"{where}.budget"),
        admin=parse_admin(spec.get("admin"), f"{where}.admin"),
    )


def _parse_file(text: str, source: str) -> list[ClientKey]:
    """The keys of a keys file: a plain list, or YAML `keys:`. Anything else is refused (ValueError
    naming the line or the key path, never a key): a file meant as YAML that does not parse must
    not become a list of its own lines, each one a valid key."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if _is_plain_list(lines):
        return [_client_key(f"key-{i + 1}", k) for i, k in enumerate(lines)]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: {yaml_problem(exc)}") from None
    if not isinstance(doc, dict) or set(doc) != {"keys"}:
        raise ValueError(
            f"{source}: not a keys file: either one key per line (no spaces or ':'), "
            "or YAML with a single top-level 'keys:' list"
        )
    entries = doc["keys"] or []
    if not isinstance(entries, list):
        raise ValueError(f"{source}: keys: must be a list")
    return [_entry(spec, i, source) for i, spec in enumerate(entries)]


def _unique(keys: list[ClientKey], where: list[str]) -> None:
    seen: dict[bytes, str] = {}
    for key, place in zip(keys, where, strict=True):
        if key.digest in seen:  # which entry's options would apply would depend on the order
            raise ValueError(f"{place}: the same key as {seen[key.digest]}")
        seen[key.digest] = place


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


def load_client_keys(
    env_keys: str, path: Path | None, env_limit: RateLimit | None = None, *, allow_anonymous: bool = False
) -> ClientKeys:
    """Keys from LLM_PROXY_API_KEYS (each with `env_limit`, its own bucket) and the keys file.
    Raises ValueError for a key that is not one, a key twice, or no key at all unless anonymous
    access was asked for."""
    keys: list[ClientKey] = []
    where: list[str] = []
    for i, raw in enumerate(k.strip() for k in env_keys.split(",") if k.strip()):
        if not _KEY.match(raw):
            raise ValueError(f"LLM_PROXY_API_KEYS[{i}]: a key must be visible ASCII characters without spaces")
        keys.append(_client_key(f"env-{i + 1}", raw, rate_limit=env_limit))
        where.append(f"LLM_PROXY_API_KEYS[{i}]")
    if path is not None:
        from_file = _parse_file(Path(path).read_text(encoding="utf-8"), str(path))
        keys += from_file
        where += [f"{path}: keys[{i}]" for i in range(len(from_file))]
    _unique(keys, where)
    for key, place in zip(keys, where, strict=True):
        if key.short:
            log.warning(
                "%s (client %s): the key is shorter than %d characters, which makes it guessable; "
                "use a random one (openssl rand -hex 24)",
                place,
                key.name,
                STRONG_KEY_LENGTH,
            )
    if not keys and not allow_anonymous:
        raise ValueError(NO_KEYS)
    return ClientKeys(keys)
