"""`GET /v1/usage` (admin keys only): a day's requests, tokens and cost per client and model.

`?date=YYYY-MM-DD` picks a day (default: today, UTC; Redis keeps `usage_retention_days`). With
Redis the figures are every replica's (`scope: all_replicas`); without it, or while it does not
answer, this replica's own for today (`scope: this_replica`).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .context import CONTEXT
from .errors import InvalidRequest, PermissionDenied
from .state import USAGE
from .usage import Counts

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


async def usage(request: web.Request) -> web.Response:
    client = request[CONTEXT].client
    if client is None or not client.admin:
        raise PermissionDenied(
            "GET /v1/usage needs an admin client key (`admin: true` in the client-keys file)", code="admin_required"
        )
    ledger = request.app[USAGE]
    day = request.query.get("date", ledger.today())
    if not _DATE.match(day):
        raise InvalidRequest("'date' must be YYYY-MM-DD", param="date", code="invalid_date")
    scope, counts = await ledger.report(day)
    total = Counts()
    data: list[dict[str, Any]] = []
    for (name, model), row in sorted(counts.items()):
        total.add(row)
        data.append({"client": name, "model": model, **row.as_dict()})
    return web.json_response({"object": "usage", "date": day, "scope": scope, "data": data, "total": total.as_dict()})
