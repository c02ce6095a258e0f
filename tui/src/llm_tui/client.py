"""Talking to the proxy: readiness, grouped models, sample questions, streamed answers, and what
an error means in plain words. No UI here, so it is testable on its own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

GROUP_ORDER = ("fine-tuned", "mock", "openai")
GROUP_TITLES = {"fine-tuned": "Fine-tuned", "mock": "Mock", "openai": "OpenAI"}


@dataclass
class Model:
    id: str
    group: str


@dataclass
class Stats:
    model: str = ""  # who answered (after a fallback, not the one asked)
    latency: float = 0.0  # seconds, request to last chunk
    ttft: float = 0.0  # seconds, request to first content
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Delta:
    text: str


@dataclass
class Finished:
    stats: Stats


@dataclass
class Failed:
    message: str
    stats: Stats = field(default_factory=Stats)


class ProxyClient:
    def __init__(
        self,
        url: str,
        api_key: str = "",
        extra_headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.clock = clock
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)
        self.openai = openai.AsyncOpenAI(
            base_url=self.url + "/v1",
            api_key=api_key or "no-key",
            max_retries=0,
            timeout=openai.Timeout(300, connect=5),
            default_headers=extra_headers or {},
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.openai.close()

    async def readiness(self) -> str:
        """connected | draining | unauthorized | unreachable"""
        try:
            resp = await self.http.get("/readyz", timeout=3)
        except httpx.HTTPError:
            return "unreachable"
        if resp.status_code == 503:
            return "draining"
        if resp.status_code != 200:
            return "unreachable"
        try:
            probe = await self.http.get("/v1/models", timeout=3)
        except httpx.HTTPError:
            return "unreachable"
        return "unauthorized" if probe.status_code == 401 else "connected"

    async def models(self) -> list[Model]:
        page = await self.openai.models.list()
        models = [
            Model(m.id, getattr(m, "group", None) or (m.model_extra or {}).get("group", "openai")) for m in page.data
        ]
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return sorted(models, key=lambda m: order.get(m.group, 99))

    async def sample_questions(self) -> list[str]:
        resp = await self.http.get("/get_sample_questions")
        resp.raise_for_status()
        return [q.split(": ", 1)[1] if q.startswith("question ") and ": " in q else q for q in resp.json()["response"]]

    async def ask(
        self, model: str, messages: list[ChatCompletionMessageParam]
    ) -> AsyncIterator[Delta | Finished | Failed]:
        stats = Stats(model=model)
        started = self.clock()
        try:
            raw = await self.openai.chat.completions.with_raw_response.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}
            )
            stats.model = raw.headers.get("X-LLM-Proxy-Model", model)
            stream = raw.parse()  # the legacy raw response parses synchronously into an AsyncStream
            async for chunk in stream:
                if chunk.usage:
                    stats.prompt_tokens = chunk.usage.prompt_tokens
                    stats.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta.content:
                        if not stats.ttft:
                            stats.ttft = self.clock() - started
                        yield Delta(choice.delta.content)
        except Exception as exc:  # every failure becomes a sentence, never a traceback
            stats.latency = self.clock() - started
            yield Failed(explain(exc, self.url), stats)
            return
        stats.latency = self.clock() - started
        yield Finished(stats)


def explain(exc: BaseException, url: str) -> str:
    """What an error from the proxy means, for a person."""
    if isinstance(exc, openai.AuthenticationError):
        return "The proxy needs a valid API key. Start llm-tui with --api-key KEY or set LLM_PROXY_API_KEY."
    if isinstance(exc, openai.PermissionDeniedError):
        return "Your API key is not allowed to use this model. Pick another model."
    if isinstance(exc, openai.NotFoundError):
        return "The proxy does not know this model any more (its routing table changed). Pick another model."
    if isinstance(exc, openai.RateLimitError):
        retry = exc.response.headers.get("Retry-After") if exc.response is not None else None
        return f"Rate limited. Try again in {retry} s." if retry else "Rate limited. Try again shortly."
    if isinstance(exc, openai.APIStatusError):
        code = (exc.body or {}).get("code") if isinstance(exc.body, dict) else None
        if exc.status_code == 504 or code == "upstream_timeout":
            return "The model did not answer in time (upstream timeout). Try again or pick another model."
        if code == "upstream_auth_failed":
            return "The proxy's own key for this model's provider was rejected. Ask whoever runs the proxy."
        if exc.status_code in (502, 503):
            return "The model's service is down or unreachable right now. Try again, or pick the mock model."
        return f"The proxy refused the request: {exc.message}"
    if isinstance(exc, openai.APIConnectionError):
        return f"Cannot reach the proxy at {url}. Is it running?"
    if isinstance(exc, openai.APIError):
        return f"The answer broke off: {exc.message}"
    return f"Unexpected error: {exc}"
