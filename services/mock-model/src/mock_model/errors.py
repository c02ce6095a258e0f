"""One error hierarchy for the mock, rendered as OpenAI error objects by one middleware.

MockError (500 server_error)
├── InvalidRequest (400 invalid_request_error; status may be 404/405/413 for the URL's faults)
├── NotFound       (404 invalid_request_error, code not_found)
└── InjectedFault  (the status, type and code a fault plan asked for)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("mock_model")


class MockError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
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
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(MockError):
    status = 400
    type = "invalid_request_error"


class NotFound(MockError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class InjectedFault(MockError):
    """A fault the caller asked for; its status, type and code come from the fault plan."""


def error_response(exc: MockError) -> web.Response:
    return web.Response(
        status=exc.status, text=json.dumps(exc.body()), content_type="application/json", headers=exc.headers
    )


def _http_error(request: web.Request, exc: web.HTTPException) -> MockError:
    if exc.status == 404:
        # OpenAI's own words for a path it does not serve.
        return InvalidRequest(f"Invalid URL ({request.method} {request.path})", status=404, code="not_found")
    message = f"{request.method} {request.path}: {exc.reason}"
    code = exc.reason.lower().replace(" ", "_")
    if exc.status >= 500:
        return MockError(message, status=exc.status, code=code)
    return InvalidRequest(message, status=exc.status, code=code)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MockError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_http_error(request, exc))
    except OSError:  # the client went away (ConnectionResetError is one): nothing to answer
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(MockError("the mock model failed unexpectedly", code="internal_error"))
