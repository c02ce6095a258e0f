"""Typed application state of the mock model service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "MockSettings")
KNOWLEDGE = web.AppKey("knowledge", "KnowledgeBase")
FAULTS = web.AppKey("faults", "FaultState")
METRICS = web.AppKey("metrics", "MockMetrics")
ANSWERS = web.AppKey("answers", "AnswerCache")
