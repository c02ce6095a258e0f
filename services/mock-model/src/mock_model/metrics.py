"""Prometheus metrics of the mock (own registry, so several apps in one test process don't clash)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


class MockMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mock_model_requests_total",
            "Requests served, by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.faults = Counter(
            "mock_model_faults_injected_total", "Faults injected, by kind", ["kind"], registry=self.registry
        )
        self.tokens = Counter(
            "mock_model_tokens_total", "Tokens in requests and answers, by kind", ["kind"], registry=self.registry
        )
        self._prompt = self.tokens.labels("prompt")
        self._completion = self.tokens.labels("completion")

    def count_tokens(self, prompt: int, completion: int) -> None:
        self._prompt.inc(prompt)
        self._completion.inc(completion)

    def render(self) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
