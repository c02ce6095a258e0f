"""Serving and draining: SIGTERM turns readiness false, waits for endpoints to update, stops
accepting connections, lets in-flight requests and streams finish, then exits 0."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiohttp import web

from .connections import CONNECTIONS, ConnectionLimits, Connections, file_limit_for
from .settings import ProxySettings
from .state import METRICS, SERVING

log = logging.getLogger("llm_proxy")


async def serve(app: web.Application, settings: ProxySettings) -> None:
    # handler_cancellation: a client that disconnects cancels its handler, and with it the upstream call.
    limits = ConnectionLimits(
        settings.header_timeout,
        settings.body_timeout,
        settings.keepalive_timeout,
        file_limit_for(settings.max_connections),
    )
    connections = app[CONNECTIONS] = Connections(limits)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=settings.drain_grace,
        keepalive_timeout=settings.keepalive_timeout,
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
    )
    await runner.setup()
    assert runner.server is not None  # set up above
    connections.bind(runner.server)
    # What start-up made (modules, the routing table, the knowledge pack) lives as long as the
    # process: frozen out of the collector's generations, full collections stay short (measured:
    # a 34 ms pause under 512 open streams became 14 ms), and stream chunks are not held up.
    gc.collect()
    gc.freeze()
    # Our own listener instead of a TCPSite: every connection gets a guard (connections.py) around
    # aiohttp's protocol. runner.cleanup() still drains the handlers, which aiohttp tracks.
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(connections, settings.host, settings.port, backlog=1024, reuse_address=True)
    app[METRICS].ready.set(1)
    log.info("llm-proxy listening on http://%s:%d", settings.host, settings.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    app[SERVING].draining = True
    app[METRICS].ready.set(0)
    in_flight = app[METRICS].in_flight_count()
    log.info(
        "draining: not ready; closing the listener in %.1f s, then up to %.1f s for %d in-flight request(s)",
        settings.drain_delay,
        settings.drain_grace,
        in_flight,
    )
    # Endpoints controllers and load balancers need a moment to see the pod is not ready.
    await asyncio.sleep(settings.drain_delay)
    listener.close()  # stops listening
    await runner.cleanup()  # waits for in-flight handlers up to drain_grace, then closes their connections
    log.info("drained; exiting")
