"""OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, as both services send it.

The official SDKs read `message` and `code` from it and pick the exception class from the HTTP
status, so the status and this body are all a client needs to tell one failure from another.
"""

from __future__ import annotations

import json
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
