"""Typed application state of the mock model service: one key per shared object, typed with its class."""

from __future__ import annotations

from aiohttp import web

from .answers import Answerer
from .faults import FaultState
from .finetuning_jobs import FineTuning
from .knowledge import KnowledgeBase
from .metrics import MockMetrics
from .settings import MockSettings

SETTINGS = web.AppKey("settings", MockSettings)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
FAULTS = web.AppKey("faults", FaultState)
METRICS = web.AppKey("metrics", MockMetrics)
ANSWERS = web.AppKey("answers", Answerer)
FINETUNING = web.AppKey("finetuning", FineTuning)
