"""HTTP helpers shared by the API routes: errors, header checks, parameters, JSON bodies."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error answer: status code and plain-text body (plus optional headers)."""

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}

    def response(self) -> Response:
        """The plain-text response Open Dental-style errors use."""
        return PlainTextResponse(self.text, status_code=self.status, headers=self.headers)


def int_param(params: dict[str, str], name: str, default: int) -> int:
    """An integer query parameter, 400 when it is not a number."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' is not a valid number.") from None


def date_param(params: dict[str, str], name: str) -> date | None:
    """A yyyy-MM-dd query parameter, 400 when malformed."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ApiError(400, f"'{name}' is not a valid date.") from None


def check_content_type(request: Request, strict: bool) -> None:
    """400 unless Content-Type is exactly application/json (charset allowed if not strict)."""
    value = request.headers.get("content-type", "")
    media = value if strict else value.split(";")[0]
    if media.strip().lower() != "application/json":
        raise ApiError(400, "Content-Type must be application/json.")


def parse_authorization(request: Request) -> tuple[str, str]:
    """(first key, second key) from 'ODFHIR a/b'; 401 when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, keys = header.partition(" ")
    first, slash, second = keys.strip().partition("/")
    if scheme != "ODFHIR" or not slash or not first or not second:
        raise ApiError(
            401,
            "Authorization header is missing or invalid. "
            "Expected: ODFHIR {DeveloperKey}/{CustomerKey}",
        )
    return first, second


def json_response(data: Any, fault: str | None = None, status: int = 200) -> Response:
    """Serialize ``data``; a malformed/truncated fault corrupts the body on purpose."""
    body = json.dumps(data, ensure_ascii=False)
    if fault == "truncated_json":
        body = body[: max(1, len(body) // 2)]
    elif fault == "malformed_json":
        body = body.replace(":", "=", 1) if ":" in body else body + "}{"
    return Response(body.encode(), status_code=status, media_type=JSON_TYPE)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty); 400 otherwise."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body
