"""Prometheus metrics, every name starting `llm_proxy_`. Labels are bounded: model names come
from the routing table (anything else is `unknown`), backends from the table, kinds from code."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UNKNOWN = "unknown"
M = TypeVar("M", Counter, Gauge, Histogram)


class ProxyMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "llm_proxy_requests_total", "Requests by model and HTTP status", ["model", "status"], registry=r
        )
        self.duration = Histogram(
            "llm_proxy_request_duration_seconds",
            "Request duration by model",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "llm_proxy_time_to_first_token_seconds",
            "Time to the first streamed chunk sent to the client, by model",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("llm_proxy_in_flight_requests", "Requests being served", registry=r)
        self.upstream_errors = Counter(
            "llm_proxy_upstream_errors_total", "Upstream failures by backend and kind", ["backend", "kind"], registry=r
        )
        self.upstream_attempts = Counter(
            "llm_proxy_upstream_attempts_total", "Upstream calls by backend", ["backend"], registry=r
        )
        self.retries = Counter("llm_proxy_retries_total", "Upstream retries by model", ["model"], registry=r)
        self.fallbacks = Counter(
            "llm_proxy_fallbacks_total", "Requests answered by a fallback model", ["model", "fallback"], registry=r
        )
        self.tokens = Counter(
            "llm_proxy_tokens_total", "Tokens reported by upstreams, by model and kind", ["model", "kind"], registry=r
        )
        self.reloads = Counter(
            "llm_proxy_config_reloads_total", "Reloads of routes and knowledge files", ["file", "result"], registry=r
        )
        self.breaker_state = Gauge(
            "llm_proxy_circuit_state",
            "Circuit breaker state per backend (0 closed, 1 half-open, 2 open)",
            ["backend"],
            registry=r,
        )
        self.stream_errors = Counter(
            "llm_proxy_stream_errors_total",
            "Streams that failed after they started, by kind",
            ["model", "kind"],
            registry=r,
        )
        self.rate_limited = Counter(
            "llm_proxy_client_rate_limited_total", "Requests refused by a client rate limit", ["client"], registry=r
        )
        # Per client: names come from the keys file (or `anonymous`), models from the routing table.
        self.client_tokens = Counter(
            "llm_proxy_client_tokens_total",
            "Tokens reported by upstreams, by client, model and kind (input, output)",
            ["client", "model", "kind"],
            registry=r,
        )
        self.client_cost = Counter(
            "llm_proxy_client_cost_usd_total",
            "Cost of answered requests in USD (from the price table), by client and model",
            ["client", "model"],
            registry=r,
        )
        self.budget_rejections = Counter(
            "llm_proxy_budget_rejections_total",
            "Requests refused because a client's daily budget was spent, by budget (tokens, usd)",
            ["client", "budget"],
            registry=r,
        )
        self.auth_throttled = Counter(
            "llm_proxy_auth_throttled_total",
            "Requests refused because their source address failed authentication too often",
            registry=r,
        )
        self.shared_state_errors = Counter(
            "llm_proxy_shared_state_errors_total",
            "Failed or timed-out calls to the shared state (Redis), by operation; each fell back to in-process state",
            ["operation"],
            registry=r,
        )
        self.shared_state_up = Gauge(
            "llm_proxy_shared_state_up",
            "1 while the shared state (Redis) is in use, 0 while it is off or not answering (in-process fallback)",
            registry=r,
        )
        self.ready = Gauge("llm_proxy_ready", "1 when serving, 0 while starting or draining", registry=r)
        for kind in ("connect", "timeout", "status_4xx", "status_5xx", "protocol"):
            self.upstream_errors.labels("none", kind)  # pre-declared so dashboards show zero, not gaps
        for operation in ("limit", "usage", "seen_samples", "ping"):
            self.shared_state_errors.labels(operation)
        self.reloads.labels("routes", "success")
        self.reloads.labels("routes", "error")

    def of(self, metric: M, *labels: str) -> M:
        """`metric.labels(*labels)`, cached: that lookup costs about 3 µs, a few times per request,
        and the label sets are bounded (model names from the table, kinds from code)."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def count_tokens(self, model: str, prompt: int, completion: int) -> None:
        self.of(self.tokens, model, "prompt").inc(prompt)
        self.of(self.tokens, model, "completion").inc(completion)

    def in_flight_count(self) -> int:
        """Requests being served now, read through the registry's public collection API."""
        for family in self.in_flight.collect():
            for sample in family.samples:
                return int(sample.value)
        return 0

    def render(self) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
