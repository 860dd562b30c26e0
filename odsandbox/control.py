"""The /_sandbox control API (mounted only with ``SandboxConfig.control``).

These routes drive faults, counters and test helpers. They take no API keys: a request that
carries an ``ODFHIR`` Authorization header is refused, so a client misconfigured to call them
with customer credentials fails loudly instead of silently working.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from odsandbox import events
from odsandbox.state import SandboxState

PREFIX = "/_sandbox"
View = Callable[[Request], Awaitable[Response]]


def control_routes() -> list[Route]:
    """All control routes."""
    office = PREFIX + "/offices/{customer_key}"
    return [
        Route(office + "/faults", _guard(_faults_post), methods=["POST"]),
        Route(office + "/faults", _guard(_faults_get), methods=["GET"]),
        Route(office + "/aging-totals", _guard(_aging_totals), methods=["GET"]),
        Route(office + "/touch", _guard(_touch), methods=["POST"]),
        Route(PREFIX + "/keys/{customer_key}/assign", _guard(_assign), methods=["POST"]),
        Route(PREFIX + "/portal/faults", _guard(_portal_faults), methods=["GET", "POST"]),
        Route(PREFIX + "/stats", _guard(_stats), methods=["GET"]),
        Route(PREFIX + "/stats/reset", _guard(_stats_reset), methods=["POST"]),
        Route(PREFIX + "/manifest", _guard(_manifest), methods=["GET"]),
    ]


def _guard(view: View) -> View:
    """Refuse API credentials and map unknown keys / bad input to 404 / 400."""

    async def guarded(request: Request) -> Response:
        if request.headers.get("authorization", "").startswith("ODFHIR"):
            return PlainTextResponse("Control endpoints do not accept API keys.", 403)
        try:
            return await view(request)
        except KeyError:
            return PlainTextResponse("Unknown customer key.", 404)
        except (ValueError, TypeError) as exc:
            return PlainTextResponse(str(exc), 400)

    return guarded


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object body (empty when absent)."""
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


async def _faults_post(request: Request) -> Response:
    changes = await _body(request)
    key = request.path_params["customer_key"]
    return JSONResponse(_state(request).set_faults(key, **changes))


async def _faults_get(request: Request) -> Response:
    return JSONResponse(_state(request).fault_status(request.path_params["customer_key"]))


async def _aging_totals(request: Request) -> Response:
    state, key = _state(request), request.path_params["customer_key"]
    state.office_for(key)  # KeyError -> 404 before going to a thread
    return JSONResponse(await anyio.to_thread.run_sync(state.aging_totals, key))


async def _touch(request: Request) -> Response:
    """Mark rows changed now: body {"table": "patient", "count": 5} (first rows by PK) or
    {"table": ..., "PKs": [..]}; {"PatNums": [..]} still works. -> {"DateTStamp", "PKs"}."""
    state, key = _state(request), request.path_params["customer_key"]
    body = await _body(request)
    pks = body.get("PKs", body.get("PatNums"))
    pks = None if pks is None else [int(n) for n in pks]
    count = None if body.get("count") is None else int(body["count"])
    store = state.office_for(key).store
    table = str(body.get("table", "patient"))
    stamp, touched = await anyio.to_thread.run_sync(events.touch_rows, store, table, count, pks)
    return JSONResponse({"DateTStamp": stamp, "PKs": touched})


async def _assign(request: Request) -> Response:
    """Assign a portal-created key to the office of body {"office_key": ...}."""
    state, key = _state(request), request.path_params["customer_key"]
    office_key = str((await _body(request))["office_key"])
    record = await anyio.to_thread.run_sync(state.assign_key, key, office_key)
    return JSONResponse(record.portal_json())


async def _portal_faults(request: Request) -> Response:
    """Developer Portal faults: POST a partial update (``{"reset": true}`` clears), GET reads."""
    changes = await _body(request) if request.method == "POST" else {}
    return JSONResponse(_state(request).set_portal_faults(**changes))


async def _stats(request: Request) -> Response:
    return JSONResponse(_state(request).stats())


async def _stats_reset(request: Request) -> Response:
    _state(request).reset_stats()
    return JSONResponse(_state(request).stats())


async def _manifest(request: Request) -> Response:
    base = str(request.base_url).rstrip("/") + "/api/v1"
    return JSONResponse(_state(request).manifest(base))
