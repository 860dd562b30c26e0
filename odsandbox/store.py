"""Blocking access to one office's SQLite file: list queries, family aging and ShortQuery.

Every method here blocks; the web layer calls them through a bounded thread pool so the event
loop never waits on SQLite. The file is generated lazily on first use (see ``data.py``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from odsandbox.data import BuildParams, build_office_db

Row = dict[str, Any]

AGING_COLUMNS: tuple[str, ...] = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90")
_NONZERO_GUARANTOR = (
    "PatNum = Guarantor AND (Bal_0_30 <> 0 OR Bal_31_60 <> 0 OR Bal_61_90 <> 0 "
    "OR BalOver90 <> 0 OR InsEst <> 0 OR BalTotal <> 0)"
)
_TOTAL_COLUMNS = (*AGING_COLUMNS, "InsEst", "BalTotal", "EstBalance")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
_WRITE_KEYWORDS = frozenset(
    [
        "insert",
        "update",
        "delete",
        "replace",
        "drop",
        "create",
        "alter",
        "truncate",
        "rename",
        "grant",
        "revoke",
        "set",
        "lock",
        "unlock",
        "load",
        "call",
        "handler",
        "do",
        "attach",
        "detach",
        "vacuum",
        "reindex",
        "pragma",
        "begin",
        "commit",
        "rollback",
        "savepoint",
        "release",
        "analyze",
        "optimize",
        "repair",
        "flush",
        "kill",
    ]
)
# Authorizer actions a read-only statement may need: SELECT, READ, FUNCTION, RECURSIVE.
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


class QueryNotReadOnly(Exception):
    """The ShortQuery SQL would modify something."""


class QueryError(Exception):
    """The ShortQuery SQL failed to compile or run; the message is SQLite's."""


class QueryTimeout(Exception):
    """The ShortQuery SQL ran past the request time limit."""


class OfficeStore:
    """One office database: built once on first use, then read through per-thread connections."""

    def __init__(self, path: str, params: BuildParams) -> None:
        self.path = path
        self.params = params
        self._lock = threading.Lock()
        self._built = False
        self._local = threading.local()

    def ensure(self) -> None:
        """Generate the SQLite file if this process has not done so yet."""
        if self._built:
            return
        with self._lock:
            if not self._built:
                build_office_db(self.path, self.params)
                self._built = True

    def _read_conn(self) -> sqlite3.Connection:
        """This thread's read-only connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.ensure()
            conn = _open_read_only(self.path)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run a trusted read query and return rows as dicts keyed by declared column names."""
        return [dict(r) for r in self._read_conn().execute(sql, args).fetchall()]

    def write(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one trusted write (sandbox-internal changes only); returns rows changed."""
        self.ensure()
        with self._lock:
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                with conn:
                    return conn.execute(sql, args).rowcount
            finally:
                conn.close()

    def insert(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one trusted INSERT (the API's own writes); returns the new row's primary key."""
        self.ensure()
        with self._lock:
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                with conn:
                    return conn.execute(sql, args).lastrowid or 0
            finally:
                conn.close()

    def page(
        self, table: str, pk: str, where: str, args: Sequence[object], limit: int, offset: int
    ) -> list[Row]:
        """One page of ``table`` in primary-key order; ``where`` is built from trusted parts."""
        sql = f"SELECT * FROM {table} WHERE {where} ORDER BY {pk} LIMIT ? OFFSET ?"  # noqa: S608 - identifiers are constants from app.py, values are bound
        return self.fetch(sql, (*args, limit, offset))

    def family_rows(self, pat_num: int) -> list[Row]:
        """The patient's whole family (guarantor first), empty if the patient does not exist."""
        sql = (
            "SELECT * FROM patient WHERE Guarantor = "
            "(SELECT Guarantor FROM patient WHERE PatNum = ?) ORDER BY PatNum <> Guarantor, PatNum"
        )
        return self.fetch(sql, (pat_num,))

    def nonzero_guarantors(self, clinic_num: int | None) -> list[Row]:
        """Guarantor rows that carry a non-zero balance, optionally for one clinic."""
        where, args = _NONZERO_GUARANTOR, ()
        if clinic_num is not None:
            where, args = f"{where} AND ClinicNum = ?", (clinic_num,)
        return self.fetch(f"SELECT * FROM patient WHERE {where} ORDER BY PatNum", args)  # noqa: S608 - constant clause

    def aging_totals(self) -> dict[str, Any]:
        """Sums of the guarantor aging columns, overall and per clinic, straight from SQLite."""
        sums = ", ".join(f"SUM({c}) AS {c}" for c in _TOTAL_COLUMNS)
        # Both interpolated parts are module constants; nothing comes from a request.
        sql = f"SELECT ClinicNum, COUNT(*) AS guarantors, {sums} FROM patient WHERE {_NONZERO_GUARANTOR} GROUP BY ClinicNum ORDER BY ClinicNum"  # noqa: S608, E501
        per_clinic = {str(r.pop("ClinicNum")): _round_totals(r) for r in self.fetch(sql)}
        keys = ("guarantors", *_TOTAL_COLUMNS)
        overall = {k: sum(c[k] for c in per_clinic.values()) for k in keys}
        clinics = {k: v for k, v in per_clinic.items() if k != "0" or self.params.spec.clinics}
        return {"all": _round_totals(overall), "clinics": clinics}

    def short_query(self, sql: str, offset: int, limit: int, timeout_s: float) -> list[Row]:
        """Run user SQL read-only; raise QueryNotReadOnly / QueryError / QueryTimeout."""
        if _first_keyword(sql) in _WRITE_KEYWORDS:
            raise QueryNotReadOnly
        self.ensure()
        conn = _open_read_only(self.path)
        denied: list[int] = []
        conn.set_authorizer(lambda action, *_: _authorize(action, denied))
        deadline = time.monotonic() + timeout_s
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
        try:
            cursor, rows = _page_of(conn, sql, offset, limit, denied)
        except sqlite3.Error as exc:
            raise _classify(exc, denied) from exc
        finally:
            conn.close()
        names = _result_names(sql, [d[0] for d in cursor.description or ()])
        return [{n: _iso(v) for n, v in zip(names, row, strict=True)} for row in rows]

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they exit)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _page_of(
    conn: sqlite3.Connection, sql: str, offset: int, limit: int, denied: list[int]
) -> tuple[sqlite3.Cursor, list[tuple]]:
    """One page of the statement's rows: LIMIT/OFFSET in SQL when it wraps as a subquery.

    Slicing fetchall() made every page cost the whole result (quadratic for big offices, and
    long GIL holds that stall the event loop); statements that cannot be wrapped (not a plain
    SELECT) still run as written and are sliced.
    """
    statement = sql.strip().rstrip(";").strip()
    if _first_keyword(statement) in ("select", "with"):
        try:
            wrapped = f"SELECT * FROM ({statement}) LIMIT ? OFFSET ?"  # noqa: S608 - the user SQL runs read-only under the authorizer either way
            cursor = conn.execute(wrapped, (limit, offset))
            return cursor, cursor.fetchall()
        except sqlite3.Error:
            if denied:
                raise
    cursor = conn.execute(sql)
    return cursor, (cursor.fetchall()[offset : offset + limit] if cursor.description else [])


def _open_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection with a few MySQL functions that Open Dental queries use."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.create_function("CONCAT", -1, lambda *a: "".join("" if x is None else str(x) for x in a))
    conn.create_function("NOW", 0, lambda: datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    conn.create_function("CURDATE", 0, lambda: date.today().isoformat())
    conn.create_function("IF", 3, lambda c, a, b: a if c else b)
    return conn


def _authorize(action: int, denied: list[int]) -> int:
    """sqlite authorizer: allow reads only, remembering any denied action."""
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    denied.append(action)
    return sqlite3.SQLITE_DENY


def _classify(exc: sqlite3.Error, denied: list[int]) -> Exception:
    """Map a SQLite failure onto the API's three outcomes."""
    if denied or "readonly" in str(exc) or "read-only" in str(exc):
        return QueryNotReadOnly()
    if "interrupted" in str(exc):
        return QueryTimeout()
    return QueryError(str(exc))


def _first_keyword(sql: str) -> str:
    """The first word of the statement, ignoring comments, whitespace and parentheses."""
    text = re.sub(r"(/\*.*?\*/)|(--[^\n]*)|(#[^\n]*)", " ", sql, flags=re.S)
    match = re.match(r"[\s(]*([A-Za-z]+)", text)
    return match.group(1).lower() if match else ""


def _iso(value: object) -> object:
    """Dates and datetimes come back ISO style with a 'T', as the real ShortQuery does."""
    if isinstance(value, str) and _DATE_VALUE.match(value):
        return value.replace(" ", "T") if len(value) > 10 else f"{value}T00:00:00"
    return value


def _round_totals(row: dict[str, Any]) -> dict[str, Any]:
    """Round money sums to cents (SQLite sums binary floats)."""
    return {k: (int(v) if k == "guarantors" else round(v or 0.0, 2)) for k, v in row.items()}


def _result_names(sql: str, declared: list[str]) -> list[str]:
    """Column keys as written in the SQL (MySQL behaviour); SQLite reports declared names.

    Only plain (optionally table-qualified) column references are renamed; aliases, expressions
    and ``*`` keep SQLite's names, which already match what MySQL would report for them.
    """
    items = _select_items(sql)
    if items is None or len(items) != len(declared):
        return declared
    names = []
    for item, name in zip(items, declared, strict=True):
        ident = re.fullmatch(r"(?:[`\"]?\w+[`\"]?\s*\.\s*)?[`\"]?(\w+)[`\"]?", item.strip())
        names.append(ident.group(1) if ident and ident.group(1).lower() == name.lower() else name)
    return names


def _select_items(sql: str) -> list[str] | None:
    """The top-level SELECT list split on commas, or None when it cannot be found simply."""
    depth, start, i = 0, None, 0
    tokens = list(re.finditer(r"'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|\w+|[(),]|\S", sql))
    for i, tok in enumerate(tokens):
        text = tok.group(0)
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and text.lower() == "select" and start is None:
            start = i + 1
        elif depth == 0 and start is not None and text.lower() in ("from", "union", "limit"):
            break
    else:
        i = len(tokens)
    if start is None:
        return None
    body = tokens[start:i]
    while body and body[0].group(0).lower() in ("distinct", "all"):
        body = body[1:]
    return _split_commas(sql, body)


def _split_commas(sql: str, tokens: list[re.Match[str]]) -> list[str] | None:
    """Split a token run on depth-0 commas into source substrings."""
    items: list[str] = []
    depth, first = 0, 0
    for j in range(len(tokens) + 1):
        text = tokens[j].group(0) if j < len(tokens) else ","
        depth += (text == "(") - (text == ")")
        if text == "," and depth == 0:
            if j == first:
                return None
            items.append(sql[tokens[first].start() : tokens[j - 1].end()])
            first = j + 1
    return items
