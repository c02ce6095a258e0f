"""`llm-tui [--url URL] [--api-key KEY]`: the terminal client for the LLM proxy."""

from __future__ import annotations

import argparse
import sys

from .app import LlmTui
from .config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-tui", description="Terminal client for the LLM proxy")
    parser.add_argument("--url", help="the proxy (env LLM_PROXY_URL; default http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="client key (env LLM_PROXY_API_KEY)")
    args = parser.parse_args(argv)
    LlmTui(load_config(args.url, args.api_key)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
