"""The routing table: which backend serves a model name, under what upstream name, with what context.

The table is YAML (ConfigMap key `routes.yaml`, the same file format locally):

    backends:
      openai: {base_url: "${OPENAI_BASE_URL:-https://api.openai.com/v1}", api_key: "${OPENAI_API_KEY:-}"}
      mock:   {base_url: "${MOCK_MODEL_URL:-http://127.0.0.1:5050/v1}"}
    models:
      - {name: gpt-4, group: openai, backend: openai, context: knowledge, fallbacks: [mock-gpt-model-0701]}

Strings may use `${VAR}` and `${VAR:-default}`; they are filled from the environment when the
file is loaded. Every problem is reported with the key it is at, and a table is either valid as
a whole or rejected as a whole.

Overlays (`merge_routes`) hold only `models:` entries: a new name adds a model, an existing name
replaces it. The merged table is validated as one, and an overlay's errors name its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .caps import Caps, parse_caps
from .config_errors import field_names, kind, yaml_problem
from .prices import Price, parse_price

GROUPS = ("fine-tuned", "mock", "openai")
CONTEXTS = ("knowledge", "none")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


class RoutingError(ValueError):
    """The table is invalid; the message names the key and the problem, never a value (config_errors.py)."""


def _name(value: Any) -> str:
    """A model or backend name a message may show: quoted if it is one, else not shown at all."""
    return repr(value) if isinstance(value, str) and _NAME.match(value) else "(not a valid name)"


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_byte` is until the response headers arrive; `idle` is between stream chunks."""

    connect: float = 5.0
    first_byte: float = 60.0
    idle: float = 30.0
    total: float = 600.0

    def merged(self, overrides: Mapping[str, Any] | None, where: str) -> Timeouts:
        if not overrides:
            return self
        if not isinstance(overrides, Mapping):
            raise RoutingError(f"{where}: must be a mapping of connect/first_byte/idle/total seconds")
        values = dict(self.__dict__)
        for key, value in overrides.items():
            if key not in values:
                raise RoutingError(f"{where}.{key}: unknown timeout (known: {', '.join(values)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise RoutingError(f"{where}.{key}: must be a positive number of seconds, got {kind(value)}")
            values[key] = float(value)
        return Timeouts(**values)


@dataclass(frozen=True)
class BackendConfig:
    name: str
    base_url: str
    api_key: str = field(default="", repr=False)  # never in a repr, a log or an error
    timeouts: Timeouts = Timeouts()
    headers: tuple[tuple[str, str], ...] = ()  # extra headers sent upstream (e.g. OpenAI-Organization)
    # Retry a call the upstream may have started to bill (a timeout or a broken answer after the
    # request went out). Off: such a call is never sent twice to the same model.
    idempotent: bool = False
    # Pass the client's `X-Mock-*` test headers on (the mock model's knobs). Off: they are dropped.
    forward_test_headers: bool = False
    # The table gives it an `api_key`: a backend that wants one is not called while it is empty
    # (`key_variables`: the environment variables it is read from, for the error that says so).
    key_required: bool = False
    key_variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    name: str
    group: str
    backend: str
    upstream_model: str
    context: str = "none"
    fallbacks: tuple[str, ...] = ()
    timeouts: Timeouts | None = None  # None: the backend's
    source: str = "base"  # base | overlay: which file the entry came from
    idempotent: bool | None = None  # None: the backend's
    price: Price | None = None  # USD per million tokens; None: the packaged price table's
    caps: Caps | None = None  # `limits:` on n and output tokens; None: the proxy's (caps.py)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RoutingError(f"{where}: must be true or false")
    return value


@dataclass(frozen=True)
class RoutingTable:
    backends: Mapping[str, BackendConfig]
    routes: Mapping[str, Route]  # by client-facing name, in file order
    files: tuple[str, ...] = ()  # files read through the `VAR_FILE` convention (a change means a reload)

    def get(self, name: str) -> Route | None:
        return self.routes.get(name)

    def names(self) -> list[str]:
        return list(self.routes)

    def timeouts_for(self, route: Route) -> Timeouts:
        return route.timeouts or self.backends[route.backend].timeouts

    def idempotent(self, route: Route) -> bool:
        """Whether a call to `route` that the upstream may have started to bill may be made again."""
        return route.idempotent if route.idempotent is not None else self.backends[route.backend].idempotent


def _lookup(name: str, environ: Mapping[str, str], reads: list[str] | None) -> str:
    """`VAR` from the environment, else the contents of the file named by `VAR_FILE` (the
    convention for secrets mounted as files, which keeps keys out of the process environment).
    Each file tried is added to `reads`, so a rotated key can be picked up."""
    value = environ.get(name)
    if value:
        return value
    path = environ.get(name + "_FILE")
    if path:
        if reads is not None and path not in reads:
            reads.append(path)
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise RoutingError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return ""


def interpolate(value: Any, environ: Mapping[str, str], reads: list[str] | None = None) -> Any:
    """Fill `${VAR}` / `${VAR:-default}` in every string of a parsed YAML document."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: _lookup(m.group(1), environ, reads) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v, environ, reads) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, environ, reads) for k, v in value.items()}
    return value


def _string(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RoutingError(f"{where}: must be a non-empty string, got {kind(value)}")
    return value.strip()


def key_variables(raw: Any) -> dict[str, tuple[str, ...]]:
    """Per backend, the `${VAR}` names its `api_key` is read from (before they are filled in)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(name): tuple(m.group(1) for m in _ENV.finditer(spec["api_key"]))
        for name, spec in raw.items()
        if isinstance(spec, Mapping) and isinstance(spec.get("api_key"), str)
    }


def _parse_backends(raw: Any, variables: Mapping[str, tuple[str, ...]]) -> dict[str, BackendConfig]:
    if not isinstance(raw, Mapping) or not raw:
        raise RoutingError("backends: must be a non-empty mapping of backend name to settings")
    backends = {}
    for name, spec in raw.items():
        where = f"backends.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise RoutingError(f"{where}: invalid backend name")
        if not isinstance(spec, Mapping):
            raise RoutingError(f"{where}: must be a mapping with base_url (and optionally api_key)")
        unknown = set(spec) - {"base_url", "api_key", "timeouts", "headers", "idempotent", "forward_test_headers"}
        if unknown:
            raise RoutingError(f"{where}: unknown key(s) {field_names(unknown)}")
        base_url = _string(spec.get("base_url"), f"{where}.base_url")
        if not base_url.startswith(("http://", "https://")):
            raise RoutingError(f"{where}.base_url: must start with http:// or https://")
        headers = spec.get("headers") or {}
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise RoutingError(f"{where}.headers: must be a mapping of header name to string")
        for header, value in headers.items():
            if not _HEADER_NAME.match(str(header)) or "\r" in value or "\n" in value:
                raise RoutingError(
                    f"{where}.headers.{header}: not a valid HTTP header (a token name, a value without line breaks)"
                )
        api_key = _string(spec.get("api_key"), f"{where}.api_key", required=False)
        if "\r" in api_key or "\n" in api_key:  # the key itself is never shown
            raise RoutingError(f"{where}.api_key: contains a line break")
        backends[name] = BackendConfig(
            name=name,
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            timeouts=Timeouts().merged(spec.get("timeouts"), f"{where}.timeouts"),
            headers=tuple((str(k), v) for k, v in headers.items()),
            idempotent=_flag(spec.get("idempotent", False), f"{where}.idempotent"),
            forward_test_headers=_flag(spec.get("forward_test_headers", False), f"{where}.forward_test_headers"),
            key_required="api_key" in spec,
            key_variables=variables.get(name, ()),
        )
    return backends


def _parse_route(where: str, spec: Any, backends: Mapping[str, BackendConfig], source: str) -> Route:
    if not isinstance(spec, Mapping):
        raise RoutingError(f"{where}: must be a mapping with name, group and backend")
    unknown = set(spec) - {
        "name",
        "group",
        "backend",
        "upstream_model",
        "context",
        "fallbacks",
        "timeouts",
        "idempotent",
        "price",
        "limits",
    }
    if unknown:
        raise RoutingError(f"{where}: unknown key(s) {field_names(unknown)}")
    name = _string(spec.get("name"), f"{where}.name")
    if not _NAME.match(name):
        raise RoutingError(
            f"{where}.name: not a valid model name (letters, digits and ._:/@- up to 200, starting with a letter or digit)"
        )
    group = _string(spec.get("group"), f"{where}.group")
    if group not in GROUPS:
        raise RoutingError(f"{where}.group: must be one of {', '.join(GROUPS)}")
    backend = _string(spec.get("backend"), f"{where}.backend")
    if backend not in backends:
        raise RoutingError(f"{where}.backend: unknown backend {_name(backend)} (known: {', '.join(sorted(backends))})")
    context = spec.get("context") or "none"
    if context not in CONTEXTS:
        raise RoutingError(f"{where}.context: must be one of {', '.join(CONTEXTS)}")
    fallbacks = spec.get("fallbacks") or []
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) and f for f in fallbacks):
        raise RoutingError(f"{where}.fallbacks: must be a list of model names")
    timeouts = None
    if spec.get("timeouts") is not None:
        timeouts = backends[backend].timeouts.merged(spec["timeouts"], f"{where}.timeouts")
    price = caps = None
    try:
        if spec.get("price") is not None:
            price = parse_price(spec["price"], f"{where}.price")
        if spec.get("limits") is not None:
            caps = parse_caps(spec["limits"], f"{where}.limits")
    except ValueError as exc:
        raise RoutingError(str(exc)) from None
    return Route(
        name=name,
        group=group,
        backend=backend,
        upstream_model=_string(spec.get("upstream_model") or name, f"{where}.upstream_model"),
        context=context,
        fallbacks=tuple(fallbacks),
        timeouts=timeouts,
        source=source,
        idempotent=None if spec.get("idempotent") is None else _flag(spec["idempotent"], f"{where}.idempotent"),
        price=price,
        caps=caps,
    )


def _check_fallbacks(routes: Mapping[str, Route], where: Mapping[str, str]) -> None:
    for route in routes.values():
        for target in route.fallbacks:
            if target not in routes:
                raise RoutingError(f"{where[route.name]}.fallbacks: unknown model {_name(target)}")
            if target == route.name:
                raise RoutingError(f"{where[route.name]}.fallbacks: {route.name!r} falls back to itself")
    # A cycle would let a request bounce between models forever.
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise RoutingError(f"{where[path[0]]}.fallbacks: fallback cycle {cycle}")
        state[name] = 1
        for target in routes[name].fallbacks:
            visit(target, [*path, name])
        state[name] = 2

    for name in routes:
        visit(name, [])


def _document(text: str, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingError(f"{where}{yaml_problem(exc)}") from None
    if doc is None and "backends" not in allowed:
        return {}  # an empty overlay publishes nothing
    if not isinstance(doc, Mapping):
        what = "the routing table" if "backends" in allowed else "an overlay"
        raise RoutingError(f"{where}{what} must be a mapping with {' and '.join(repr(k) for k in allowed)}")
    unknown = set(doc) - set(allowed)
    if unknown:
        hint = "" if "backends" in allowed else " (an overlay holds only 'models'; backends come from the base)"
        raise RoutingError(f"{where}unknown top-level key(s) {field_names(unknown)}{hint}")
    return doc


def parse_routes(text: str, environ: Mapping[str, str] | None = None) -> RoutingTable:
    """Parse and validate a routing table; raise RoutingError naming the first problem."""
    return merge_routes(text, [], environ)


def merge_routes(
    base: str,
    overlays: list[tuple[str, str]],
    environ: Mapping[str, str] | None = None,
    reads: list[str] | None = None,
) -> RoutingTable:
    """The base table with each overlay `(name, text)` applied in the order given, validated as a
    whole. An error in an overlay entry names the overlay (`name: models[0].backend: ...`)."""
    environ = os.environ if environ is None else environ
    reads = [] if reads is None else reads
    doc = _document(base, "", ("backends", "models"))
    raw_backends = doc.get("backends")
    backends = _parse_backends(interpolate(raw_backends, environ, reads), key_variables(raw_backends))
    base_models = doc.get("models")
    if not isinstance(base_models, list) or not base_models:
        raise RoutingError("models: must be a non-empty list")
    # (where, source, spec) per model name, in order: an overlay entry replaces in place or appends.
    entries: dict[str, tuple[str, str, Any]] = {}
    base_entries = [(f"models[{i}]", "base", spec) for i, spec in enumerate(base_models)]
    for where, source, spec in base_entries:
        name = spec.get("name") if isinstance(spec, Mapping) else None
        if isinstance(name, str) and name in entries:
            raise RoutingError(f"{where}.name: duplicate model name {name!r} (first at {entries[name][0]})")
        entries[name if isinstance(name, str) else f"\0{where}"] = (where, source, spec)
    for overlay_name, text in overlays:
        odoc = _document(text, f"{overlay_name}: ", ("models",))
        models = odoc.get("models") or []
        if not isinstance(models, list):
            raise RoutingError(f"{overlay_name}: models: must be a list")
        seen: dict[str, str] = {}
        for i, spec in enumerate(models):
            where = f"{overlay_name}: models[{i}]"
            name = spec.get("name") if isinstance(spec, Mapping) else None
            if not isinstance(name, str) or not name.strip():
                raise RoutingError(f"{where}.name: must be a non-empty string, got {kind(name)}")
            if name in seen:
                raise RoutingError(f"{where}.name: duplicate model name {name!r} (first at {seen[name]})")
            seen[name] = where
            entries[name] = (where, "overlay", spec)
    routes: dict[str, Route] = {}
    wheres: dict[str, str] = {}
    for where, source, spec in entries.values():
        route = _parse_route(where, interpolate(spec, environ, reads), backends, source)
        if route.name in routes:  # two spellings that interpolate to one name
            raise RoutingError(f"{where}.name: duplicate model name {route.name!r} (first at {wheres[route.name]})")
        routes[route.name] = route
        wheres[route.name] = where
    _check_fallbacks(routes, wheres)
    return RoutingTable(backends=backends, routes=routes, files=tuple(reads))
