"""`llm-proxy [--host H] [--port P] [--routes FILE] [--knowledge FILE]`: run the proxy."""

from __future__ import annotations

import asyncio
import logging
import sys

from . import logs
from .app import create_app
from .keys import CLIENT_KEYS
from .settings import parse_args

log = logging.getLogger("llm_proxy")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logs.configure(settings.log_format, settings.log_level)
    from .lifecycle import serve
    from .routing import RoutingError

    try:
        app = create_app(settings)
    except (RoutingError, ValueError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not app[CLIENT_KEYS].current.enabled:
        log.warning(
            "NO CLIENT KEYS CONFIGURED: the proxy serves anyone who can reach it. "
            "Set LLM_PROXY_API_KEYS or LLM_PROXY_API_KEYS_FILE to require keys."
        )
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # uvloop is optional: plain asyncio works, only slower
        runner = asyncio.run
    runner(serve(app, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
