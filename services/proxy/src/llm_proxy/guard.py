"""What every request and response passes, whatever the endpoint.

Request headers must be text: a value that is not valid UTF-8 (byte 0xFF, say) used to reach the
key digest or an upstream call and fail there as a 500 with a traceback; it is a 400 now. And the
`Server` header names the proxy, not the versions of Python and aiohttp it runs on.
"""

from __future__ import annotations

from aiohttp import web

from .errors import Handler, InvalidRequest

SERVER = "llm-proxy"


@web.middleware
async def header_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    for name, value in request.headers.items():
        if not value.isascii():
            try:
                value.encode("utf-8")  # aiohttp decodes bytes that are not UTF-8 as lone surrogates
            except UnicodeEncodeError:
                raise InvalidRequest(
                    f"The value of the header {name.encode('ascii', 'replace').decode()} is not valid UTF-8",
                    code="invalid_header",
                ) from None
    return await handler(request)


async def name_the_server(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
