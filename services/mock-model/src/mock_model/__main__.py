"""`mock-model [--host H] [--port P] ...`: run the mock model service."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from .app import create_app
from .settings import parse_args

if sys.platform != "win32":  # uvloop installs everywhere but Windows (see pyproject.toml)
    import uvloop


def _event_loop() -> asyncio.AbstractEventLoop | None:
    """uvloop where it is installed, else aiohttp's default loop."""
    if sys.platform == "win32":
        return None
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    logging.getLogger("mock_model").info(
        "mock model listening on http://%s:%d (models: %s; latency ttft=%gms delay=%gms; fault=%s rate=%g)",
        settings.host,
        settings.port,
        ", ".join(settings.models),
        settings.ttft_ms,
        settings.token_delay_ms,
        settings.fault or "none",
        settings.fault_rate,
    )
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        loop=_event_loop(),
        shutdown_timeout=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
