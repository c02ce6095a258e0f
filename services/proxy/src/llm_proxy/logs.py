"""Structured logging: text or JSON lines, a request id on every request line, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable

_SECRETS = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._\-~+/=]{6,})")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class Redactor:
    """Removes known secrets (backend and client keys) and anything key-shaped from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    def text(self, value: str) -> str:
        if self._known is not None:
            value = self._known.sub("[REDACTED]", value)
        return _SECRETS.sub("[REDACTED]", value)

    def bytes(self, value: bytes) -> bytes:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
        cleaned = self.text(text)
        return value if cleaned == text else cleaned.encode("utf-8")


def request_id(inbound: str | None) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    if inbound and _REQUEST_ID.match(inbound):
        return inbound
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


request_log = logging.getLogger("llm_proxy.request")
