"""Shared fixtures: every module in tests/fixtures/ is a pytest plugin (real servers on loopback)."""

from pathlib import Path

pytest_plugins = [
    f"fixtures.{p.stem}"
    for p in sorted((Path(__file__).parent / "fixtures").glob("*.py"))
    if not p.stem.startswith("_")
]
