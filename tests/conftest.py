"""Shared fixtures: every module in tests/fixtures/ is a pytest plugin (real servers on loopback).

Tests marked `unit` form the fast set (`make test-fast`): they may not ask for a fixture that
starts a server, so the set stays pure and quick as it grows.
"""

from pathlib import Path

import pytest

pytest_plugins = [
    f"fixtures.{p.stem}"
    for p in sorted((Path(__file__).parent / "fixtures").glob("*.py"))
    if not p.stem.startswith("_")
]

SERVER_FIXTURES = frozenset(
    {
        "aiohttp_server",
        "aiohttp_client",
        "aiohttp_raw_server",
        "make_mock_server",
        "mock_server",
        "make_proxy",
        "proxy_server",
        "recording_upstream",
        "redis_server",
        "tls_redis_server",
        "proxy_processes",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("unit") is None:
            continue
        servers = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if servers:
            raise pytest.UsageError(f"{item.nodeid} is marked unit but starts servers: {', '.join(sorted(servers))}")
