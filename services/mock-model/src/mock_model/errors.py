"""One error hierarchy for the mock, rendered as OpenAI error objects by one middleware."""

from __future__ import annotations

import json
import logging

from aiohttp import web

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
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(MockError):
    status = 400
    type = "invalid_request_error"


class NotFound(MockError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class InjectedFault(MockError):
    """A fault the caller asked for; its status and code come from the fault plan."""


def error_response(exc: MockError) -> web.Response:
    return web.Response(
        status=exc.status, text=json.dumps(exc.body()), content_type="application/json", headers=exc.headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except MockError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        message = f"{request.method} {request.path}: {exc.reason}"
        return error_response(
            MockError(message, status=exc.status, code=exc.reason.lower().replace(" ", "_"))
            if kind == "server_error"
            else InvalidRequest(message, status=exc.status, code=exc.reason.lower().replace(" ", "_"))
        )
    except (ConnectionResetError, OSError):
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(MockError("the mock model failed unexpectedly", code="internal_error"))
