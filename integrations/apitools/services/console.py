"""The API console: send one request with an office's key, record it, describe the answer.

The call runs inside the web request (a console user waits for it), so it gets a short
deadline (CONSOLE_DEADLINE_S, never longer than the client's OPENDENTAL_DEADLINE_S), no
retries, and waits at most CONSOLE_MAX_PACE_WAIT_S for the key's next slot. It goes through
``office_client``: the same per-key pacer as polling, so a console call takes a slot of its own
and never makes a poll draw a throttle; a second call within the interval waits for its slot.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.exceptions import ValidationError

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.apitools.models import ConsoleCall, ConsoleSettings
from integrations.apitools.services.endpoints import SHORT_QUERY_PATH, WRITE_METHODS
from integrations.offices.models import Office
from integrations.offices.services.clients import NoKey, office_client
from integrations.opendental import OpenDentalError, parsing


@dataclass(frozen=True)
class ConsoleRequest:
    """What to send: method, path, query parameters and the body (JSON text; the SQL of a
    ShortQuery)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS and self.path != SHORT_QUERY_PATH

    def json_body(self) -> Any:
        if self.path == SHORT_QUERY_PATH:
            return {"SqlCommand": self.body}
        return json.loads(self.body) if self.body.strip() else None


@dataclass
class ConsoleResult:
    """A sent call (its history row) and the decoded answer, shown once and never stored."""

    call: ConsoleCall
    data: Any = None
    page_size: int = 100
    raw: str = ""  # the body exactly as Open Dental sent it

    @property
    def ok(self) -> bool:
        return not self.call.error


def console_writes_enabled(account: DeveloperAccount) -> bool:
    """Whether the account lets its console send writes."""
    return ConsoleSettings.objects.filter(account=account, writes_enabled=True).exists()


def console_writes_set(*, account: DeveloperAccount, actor: Any, enabled: bool) -> None:
    """Turn console writes on or off for the account (an owner's decision; audited)."""
    row, _ = ConsoleSettings.objects.update_or_create(
        account=account, defaults={"writes_enabled": enabled}
    )
    audit_record(
        account=account, actor=actor, action="console.writes_set", obj=row,
        detail={"writes_enabled": enabled},
    )  # fmt: skip


def console_send(
    *, office: Office, actor: Any, request: ConsoleRequest, confirm_office: str = ""
) -> ConsoleResult:
    """Send one console request with the office's key, paced; record it (audit for writes)."""
    if request.is_write:
        _check_write(office, confirm_office)
    timings: list[tuple[int | None, float]] = []
    try:
        client = office_client(
            office=office,
            on_request=lambda _m, _p, status, elapsed: timings.append((status, elapsed)),
            max_pace_wait_s=settings.CONSOLE_MAX_PACE_WAIT_S,
            deadline_s=settings.CONSOLE_DEADLINE_S,
        ).without_retries()
    except NoKey as exc:
        raise ValidationError(str(exc)) from None
    data, error, status = None, "", None
    received: list[bytes] = []

    def decode(content: bytes) -> Any:
        received.append(content)
        return _decode(content)

    started = time.monotonic()
    try:
        data = client.request(
            request.method, request.path, params=request.params or None,
            body=request.json_body(), retry=False, idempotent=request.method == "GET",
            decode=decode,
        )  # fmt: skip
    except OpenDentalError as exc:
        error, status = exc.message, exc.status
    wall = time.monotonic() - started
    call = _record(office, actor, request, timings, wall, data, error, status)
    raw = received[-1].decode("utf-8", "replace") if received and not error else ""
    return ConsoleResult(call=call, data=data, page_size=client.page_size, raw=raw)


def _check_write(office: Office, confirm_office: str) -> None:
    if not console_writes_enabled(office.account):
        raise ValidationError("Writes from the console are off for this account (an owner can "
                              "turn them on).")  # fmt: skip
    if confirm_office.strip() != office.name:
        raise ValidationError({"confirm_office": f"Type the office's name, {office.name}, "
                                                 "to send this write."})  # fmt: skip


def _decode(content: bytes) -> Any:
    """JSON, or None for the empty body of a PUT or DELETE."""
    return parsing.loads(content) if content.strip() else None


def _record(office, actor, request, timings, wall, data, error, status) -> ConsoleCall:
    """The history row of a sent call, and the audit event of a write (its size, not its body)."""
    elapsed = sum(t for _, t in timings)
    call = ConsoleCall.objects.create(
        office=office, actor=actor if getattr(actor, "is_authenticated", False) else None,
        method=request.method, path=request.path[:500], params=request.params,
        body=request.body, status=status if status is not None else _last_status(timings),
        elapsed_ms=round(elapsed * 1000), paced_ms=max(0, round((wall - elapsed) * 1000)),
        rows=len(data) if isinstance(data, list) else None, error=error[:500],
    )  # fmt: skip
    if request.is_write:
        audit_record(
            account=office.account, actor=actor, action="console.write", obj=call,
            detail={"office": office.name, "method": request.method, "path": request.path,
                    "body_bytes": len(request.body.encode()), "status": call.status},
        )  # fmt: skip
    return call


def _last_status(timings: list[tuple[int | None, float]]) -> int | None:
    return timings[-1][0] if timings else None


def console_request_of(call: ConsoleCall, *, offset: int | None = None) -> ConsoleRequest:
    """The request a history row sent (for a re-run), with another Offset if given."""
    params = dict(call.params)
    if offset is not None:
        params["Offset"] = str(offset)
    return ConsoleRequest(method=call.method, path=call.path, params=params, body=call.body)


def console_curl(call: ConsoleCall) -> str:
    """The call as a curl line; the keys are shell variables, never their values."""
    url = call.office.api_base_url.rstrip("/") + call.path
    if call.params:
        url += "?" + urlencode(call.params, quote_via=quote)
    parts = ["curl", "-X", call.method, shlex.quote(url),
             "-H", '"Authorization: ODFHIR ${OD_DEVELOPER_KEY}/${OD_CUSTOMER_KEY}"',
             "-H", shlex.quote("Content-Type: application/json")]  # fmt: skip
    body = console_request_of(call).json_body()
    if body is not None:
        parts += ["--data", shlex.quote(json.dumps(body))]
    return " ".join(parts)


def table_of(data: Any, order: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """An answer as columns and rows: a list of objects, one object, or plain values;
    ``order`` (the keys as first received) leads the columns."""
    items = data if isinstance(data, list) else [data] if data is not None else []
    columns: dict[str, None] = dict.fromkeys(order or [])
    for item in items:
        columns.update(dict.fromkeys(item if isinstance(item, dict) else ["value"]))
    rows = [
        [_cell(item.get(c) if isinstance(item, dict) else item) for c in columns] for item in items
    ]
    return list(columns), rows


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value
