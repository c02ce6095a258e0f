"""OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, as both services send it.

The official SDKs read `message` and `code` from it and pick the exception class from the HTTP
status, so the status and this body are all a client needs to tell one failure from another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
PERMISSION = "permission_error"
NOT_FOUND = "invalid_request_error"  # OpenAI reports unknown models and paths as invalid requests
RATE_LIMIT = "rate_limit_error"
SERVER = "server_error"


def error_body(message: str, type: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_json(message: str, type: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps(error_body(message, type, code, param)).encode()


class ApiError(Exception):
    """An error a service answers with instead of a success, as OpenAI's error body.

    Subclasses set the defaults (`status`, `type`, `code`); one instance may override any of them,
    e.g. a fault the mock was asked to inject, or an upstream status the proxy passes on. Each
    service renders it with its web framework; the body is always `body()`.
    """

    status: int = 500
    type: str = SERVER
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)

    def body_json(self) -> bytes:
        return json.dumps(self.body()).encode()
