"""`llm-proxy [--host H] [--port P] [--routes FILE] [--knowledge FILE]`: run the proxy."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from . import logs
from .app import create_app
from .lifecycle import serve
from .routing import RoutingError
from .settings import parse_args
from .state import CLIENT_KEYS

log = logging.getLogger("llm_proxy")


def _run(main: Coroutine[Any, Any, None]) -> None:
    if sys.platform == "win32":  # uvloop does not exist there; plain asyncio works, only slower
        asyncio.run(main)
    else:
        import uvloop

        uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logs.configure(settings.log_format, settings.log_level)
    try:
        app = create_app(settings)
    except (RoutingError, ValueError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not app[CLIENT_KEYS].current.enabled:
        log.warning(
            "ANONYMOUS ACCESS (--allow-anonymous): no client keys are configured and the proxy serves anyone "
            "who can reach it. Set LLM_PROXY_API_KEYS_FILE or LLM_PROXY_API_KEYS to require keys."
        )
    _run(serve(app, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
