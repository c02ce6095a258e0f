"""One error hierarchy for the mock, rendered as OpenAI error objects by one middleware.

MockError (500 server_error)
├── InvalidRequest (400 invalid_request_error; status may be 404/405/413 for the URL's faults)
├── NotFound       (404 invalid_request_error, code not_found)
└── InjectedFault  (the status, type and code a fault plan asked for)
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from llm_common import openai_errors
from llm_common.bodies import BodyError
from llm_common.seed import SeedQuestionError

log = logging.getLogger("mock_model")


class MockError(openai_errors.ApiError):
    """The mock's errors: OpenAI's shape, from the class both services share."""


class InvalidRequest(MockError):
    status = 400
    type = openai_errors.INVALID_REQUEST


class NotFound(MockError):
    status = 404
    type = openai_errors.NOT_FOUND
    code = "not_found"


class InjectedFault(MockError):
    """A fault the caller asked for; its status, type and code come from the fault plan."""


def error_response(exc: MockError) -> web.Response:
    return web.Response(status=exc.status, body=exc.body_json(), content_type="application/json", headers=exc.headers)


def as_mock_error(request: web.Request, exc: Exception) -> MockError | None:
    """The mock's error for a foreign one; None for what is not an error answer (a redirect, a
    client that went away) or is a bug."""
    if isinstance(exc, MockError):
        return exc
    if isinstance(exc, BodyError):
        return InvalidRequest(exc.message, param=exc.param, code=exc.code)
    if isinstance(exc, SeedQuestionError):
        return InvalidRequest(exc.message, status=exc.status, param="inference")
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        if exc.status == 404:
            # OpenAI's own words for a path it does not serve.
            return InvalidRequest(f"Invalid URL ({request.method} {request.path})", status=404, code="not_found")
        message = f"{request.method} {request.path}: {exc.reason}"
        code = exc.reason.lower().replace(" ", "_")
        if exc.status >= 500:
            return MockError(message, status=exc.status, code=code)
        return InvalidRequest(message, status=exc.status, code=code)
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OSError:  # the client went away (ConnectionResetError is one): nothing to answer
        raise
    except Exception as exc:
        error = as_mock_error(request, exc)
        if error is not None:
            return error_response(error)
        if isinstance(exc, web.HTTPException):
            raise
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(MockError("the mock model failed unexpectedly", code="internal_error"))
