"""API Subscriptions: ``GET/POST /subscriptions``, ``PUT/DELETE /subscriptions/{n}``.

Subscriptions live in the office database's ``apisubscription`` table (Open Dental's column
names; the API calls the key ``SubscriptionNum``) and belong to the calling customer key:
other keys of the same office neither see nor change them. ``events.py`` delivers them.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.responses import Response

from odsandbox.data import NO_DATETIME
from odsandbox.store import OfficeStore, Row
from odsandbox.web import ApiError, json_object, json_response

if TYPE_CHECKING:
    from odsandbox.app import Ctx

#: Every WatchTable Open Dental documents (events.WATCH_TABLES says which ones fire here).
WATCH_TABLES: tuple[str, ...] = (
    "Appointment",
    "AppointmentDeleted",
    "Operatory",
    "PatField",
    "Patient",
    "Provider",
    "Schedule",
    "ToothInitial",
)
UI_EVENT_TYPES: tuple[str, ...] = ("PatientSelected",)
COLUMNS: tuple[str, ...] = (
    "EndPointUrl",
    "Workstation",
    "CustomerKey",
    "WatchTable",
    "PollingSeconds",
    "UiEventType",
    "DateTimeStart",
    "DateTimeStop",
    "Note",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS apisubscription (ApiSubscriptionNum INTEGER PRIMARY KEY, "
    "EndPointUrl TEXT, Workstation TEXT, CustomerKey TEXT, WatchTable TEXT, "
    "PollingSeconds INTEGER, UiEventType TEXT, DateTimeStart DATETIME, DateTimeStop DATETIME, "
    "Note TEXT)"
)
# Stores (not paths) that have the table: a new sandbox may regenerate a cached file.
_ready: weakref.WeakSet[OfficeStore] = weakref.WeakSet()
_ready_lock = threading.Lock()


def ensure_table(store: OfficeStore) -> None:
    """Blocking: create ``apisubscription`` in the office file once per process.

    Created on first use rather than by the generator, so the generated data (and its cache
    signature) does not depend on it; with ``--data-dir`` subscriptions survive restarts.
    """
    with _ready_lock:
        if store not in _ready:
            store.write(_DDL)
            _ready.add(store)


def subscription_json(row: Row) -> dict[str, Any]:
    """A subscription as the API shows it."""
    return {"SubscriptionNum": row["ApiSubscriptionNum"], **{c: row[c] for c in COLUMNS}}


def all_subscriptions(store: OfficeStore) -> list[Row]:
    """Blocking: every subscription of the office, in SubscriptionNum order."""
    ensure_table(store)
    return store.fetch("SELECT * FROM apisubscription ORDER BY ApiSubscriptionNum")


def advance_start(store: OfficeStore, num: int, old: str, new: str) -> None:
    """Blocking: move DateTimeStart on after a delivery, unless a PUT changed it meanwhile."""
    store.write(
        "UPDATE apisubscription SET DateTimeStart = ? "
        "WHERE ApiSubscriptionNum = ? AND DateTimeStart = ?",
        (new, num, old),
    )


def _when(name: str, raw: object) -> str:
    """A 'yyyy-MM-dd' or 'yyyy-MM-dd HH:mm:ss' value as 'yyyy-MM-dd HH:mm:ss'; 400 otherwise."""
    text = raw.strip().replace("T", " ") if isinstance(raw, str) else ""
    if text in ("0001-01-01", NO_DATETIME):
        return NO_DATETIME
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ApiError(400, f"{name} must be in yyyy-MM-dd HH:mm:ss format.") from None


def _url(raw: object) -> str:
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, "EndPointUrl must be an http:// or https:// URL.")
    return str(raw)


def _seconds(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise ApiError(400, "PollingSeconds must be a positive whole number.")
    if int(raw) < 1:
        raise ApiError(400, "PollingSeconds must be a positive whole number.")
    return int(raw)


def _text(name: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ApiError(400, f"{name} must be a string.")
    return raw


def _common(body: dict[str, Any]) -> dict[str, object]:
    """The fields both POST and PUT may set, validated."""
    out: dict[str, object] = {}
    if body.get("EndPointUrl") is not None:
        out["EndPointUrl"] = _url(body["EndPointUrl"])
    for name in ("Workstation", "Note"):
        if body.get(name) is not None:
            out[name] = _text(name, body[name])
    for name in ("DateTimeStart", "DateTimeStop"):
        if body.get(name) is not None:
            out[name] = _when(name, body[name])
    if body.get("PollingSeconds") is not None:
        out["PollingSeconds"] = _seconds(body["PollingSeconds"])
    return out


def new_subscription(body: dict[str, Any], customer_key: str, now: str) -> dict[str, object]:
    """Validated column values for POST: a database event or a UI event, not both."""
    values = {
        "Workstation": "",
        "WatchTable": "",
        "PollingSeconds": 0,
        "UiEventType": "",
        "DateTimeStart": now,
        "DateTimeStop": NO_DATETIME,
        "Note": "",
        **_common(body),
        "CustomerKey": customer_key,
    }
    if "EndPointUrl" not in values:
        raise ApiError(400, "EndPointUrl is required.")
    table, ui = body.get("WatchTable") or "", body.get("UiEventType") or ""
    if bool(table) == bool(ui):
        raise ApiError(400, "Either WatchTable (with PollingSeconds) or UiEventType is required.")
    if table:
        values["WatchTable"] = _choice("WatchTable", table, WATCH_TABLES)
        if not values["PollingSeconds"]:
            raise ApiError(400, "PollingSeconds is required for a WatchTable subscription.")
    else:
        values["UiEventType"] = _choice("UiEventType", ui, UI_EVENT_TYPES)
        if values["PollingSeconds"]:
            raise ApiError(400, "PollingSeconds can only be set for WatchTable subscriptions.")
    return values


def _choice(name: str, raw: object, allowed: tuple[str, ...]) -> str:
    """The documented spelling of an allowed value (case-insensitive); 400 otherwise."""
    by_lower = {a.lower(): a for a in allowed}
    if not isinstance(raw, str) or raw.lower() not in by_lower:
        raise ApiError(400, f"{name} must be one of: {', '.join(allowed)}.")
    return by_lower[raw.lower()]


def _insert(store: OfficeStore, values: dict[str, object]) -> Row:
    """Blocking: store a new subscription and return its row."""
    ensure_table(store)

    def work(conn: sqlite3.Connection) -> Row:
        sql = f"INSERT INTO apisubscription ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})"  # noqa: S608, E501 - column names are constants
        num = conn.execute(sql, tuple(values.values())).lastrowid
        row = conn.execute("SELECT * FROM apisubscription WHERE ApiSubscriptionNum = ?", (num,))
        return dict(row.fetchone())

    return store.transact(work)


def _update(store: OfficeStore, key: str, num: int, body: dict[str, Any]) -> Row:
    """Blocking: apply a PUT to one of the key's subscriptions (404 when not the key's)."""
    ensure_table(store)

    def work(conn: sqlite3.Connection) -> Row:
        row = _own(conn, key, num)
        for name in ("WatchTable", "UiEventType"):
            if body.get(name) is not None and str(body[name]).lower() != row[name].lower():
                raise ApiError(400, f"{name} cannot be changed; create a new subscription.")
        values = _common(body)
        if values.get("PollingSeconds") and not row["WatchTable"]:
            raise ApiError(400, "PollingSeconds can only be set for WatchTable subscriptions.")
        if values:
            sets = ", ".join(f"{c} = ?" for c in values)
            sql = f"UPDATE apisubscription SET {sets} WHERE ApiSubscriptionNum = ?"  # noqa: S608 - column names are constants
            conn.execute(sql, (*values.values(), num))
        return {**row, **values}

    return store.transact(work)


def _delete(store: OfficeStore, key: str, num: int) -> None:
    """Blocking: remove one of the key's subscriptions (404 when not the key's)."""
    ensure_table(store)

    def work(conn: sqlite3.Connection) -> None:
        _own(conn, key, num)
        conn.execute("DELETE FROM apisubscription WHERE ApiSubscriptionNum = ?", (num,))

    store.transact(work)


def _own(conn: sqlite3.Connection, key: str, num: int) -> Row:
    """The subscription ``num`` if it belongs to ``key``; 404 otherwise."""
    row = conn.execute(
        "SELECT * FROM apisubscription WHERE ApiSubscriptionNum = ? AND CustomerKey = ?",
        (num, key),
    ).fetchone()
    if row is None:
        raise ApiError(404, "Subscription not found.")
    return dict(row)


def _for_key(store: OfficeStore, key: str, limit: int, offset: int) -> list[Row]:
    """Blocking: one page of the key's subscriptions."""
    ensure_table(store)
    return store.page(
        "apisubscription", "ApiSubscriptionNum", "CustomerKey = ?", (key,), limit, offset
    )


async def subscriptions_list(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /subscriptions: the calling key's subscriptions."""
    limit, offset = ctx.page()
    rows = await ctx.run(_for_key, ctx.office.store, ctx.key.customer_key, limit, offset)
    return [subscription_json(r) for r in rows]


async def subscription_create(ctx: Ctx) -> Response:
    """POST /subscriptions: 201 and the new subscription."""
    body = await json_object(ctx.request)
    values = new_subscription(body, ctx.key.customer_key, ctx.server_now())
    row = await ctx.run(_insert, ctx.office.store, values)
    return json_response(subscription_json(row), status=201)


async def subscription_update(ctx: Ctx) -> dict[str, Any]:
    """PUT /subscriptions/{n}: 200 and the subscription as it now is."""
    body = await json_object(ctx.request)
    num = ctx.request.path_params["num"]
    row = await ctx.run(_update, ctx.office.store, ctx.key.customer_key, num, body)
    return subscription_json(row)


async def subscription_delete(ctx: Ctx) -> Response:
    """DELETE /subscriptions/{n}: 200."""
    num = ctx.request.path_params["num"]
    await ctx.run(_delete, ctx.office.store, ctx.key.customer_key, num)
    return Response(status_code=200)
