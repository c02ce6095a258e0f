"""What several modules learn about one request, in one typed object (`request[CONTEXT]`).

The observe middleware creates it (request id, start time); auth fills in the client; handlers
name the model and who answered; the observe middleware reads it all back for the request's
metrics and log line.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .client_keys import ClientKey


@dataclass(slots=True)
class RequestContext:
    request_id: str
    started: float  # time.perf_counter() when the request arrived
    client: ClientKey | None = None  # None: no client keys configured, or an open path
    model: str | None = None  # the model asked for, as logged (trimmed); metrics use it if it is in the table
    answered_by: str | None = None  # the route that answered (differs from `model` after a fallback)
    stream_error: str | None = None  # how a stream broke after it started
    shared_spend: tuple[int, int] | None = None  # the client's (tokens, nano-USD) today, all replicas (auth)


CONTEXT = web.RequestKey("context", RequestContext)
