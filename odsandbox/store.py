"""Blocking access to one office's SQLite file: list queries, family aging and ShortQuery
(whose screening, MySQL dialect and answer shape live in ``shortquery``).

Every method here blocks; the web layer calls them through a bounded thread pool so the event
loop never waits on SQLite. The file is generated lazily on first use (see ``data.py``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from odsandbox import shortquery
from odsandbox.data import BuildParams, _is_current, build_office_db

Row = dict[str, Any]
T = TypeVar("T")

AGING_COLUMNS: tuple[str, ...] = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90")
_NONZERO_GUARANTOR = (
    "PatNum = Guarantor AND (Bal_0_30 <> 0 OR Bal_31_60 <> 0 OR Bal_61_90 <> 0 "
    "OR BalOver90 <> 0 OR InsEst <> 0 OR BalTotal <> 0)"
)
_TOTAL_COLUMNS = (*AGING_COLUMNS, "InsEst", "BalTotal", "EstBalance")
# Read connections each thread keeps open, across all offices, least recently used closed
# first. Each holds two or three file descriptors; a sandbox of 10,000 offices kept every one
# open and ran out of them (the limit here is 20,000), while reopening costs well under 1 ms.
READ_CONNS_PER_THREAD = 64
_thread_conns = threading.local()


class OfficeStore:
    """One office database: built once on first use, then read through per-thread connections."""

    def __init__(self, path: str, params: BuildParams) -> None:
        self.path = path
        self.params = params
        self._lock = threading.Lock()
        self._built = False
        self._schema: shortquery.Schema | None = None

    def ensure(self) -> None:
        """Generate the SQLite file if this process has not done so yet."""
        if self._built:
            return
        with self._lock:
            if not self._built:
                build_office_db(self.path, self.params)
                self._built = True

    @property
    def built(self) -> bool:
        """True once this process has generated or checked the file (``ensure``)."""
        return self._built

    def has_current_file(self) -> bool:
        """True when the file exists and needs no regeneration (so ``ensure`` is cheap)."""
        return _is_current(self.path, self.params.signature())

    def _read_conn(self) -> sqlite3.Connection:
        """This thread's read-only connection (opened on first use, kept while recent)."""
        conns = _open_conns()
        conn = conns.get(self.path)
        if conn is not None:
            conns.move_to_end(self.path)
            return conn
        self.ensure()
        conn = _open_read_only(self.path)
        conn.row_factory = sqlite3.Row
        conns[self.path] = conn
        while len(conns) > READ_CONNS_PER_THREAD:
            conns.popitem(last=False)[1].close()
        return conn

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run a trusted read query and return rows as dicts keyed by declared column names."""
        return [dict(r) for r in self._read_conn().execute(sql, args).fetchall()]

    def write(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one trusted write (sandbox-internal changes only); returns rows changed."""
        return self.transact(lambda conn: conn.execute(sql, args).rowcount)

    def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction (commits on return, rolls back on error).

        Writes are serialised by the store's lock, so a read-check-write in ``work`` (the
        patient duplicate check, a new PK) cannot race another sandbox write.
        """
        self.ensure()
        with self._lock:
            conn = sqlite3.connect(self.path, timeout=10)
            conn.row_factory = sqlite3.Row
            try:
                with conn:
                    return work(conn)
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
        self.ensure()
        if self._schema is None:
            self._schema = shortquery.Schema.of(self._read_conn())
        return shortquery.run(self.path, self._schema, sql, offset, limit, timeout_s)

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they exit or evict it)."""
        conn = _open_conns().pop(self.path, None)
        if conn is not None:
            conn.close()


def _open_conns() -> OrderedDict[str, sqlite3.Connection]:
    """This thread's open read connections by file, oldest use first."""
    conns = getattr(_thread_conns, "by_path", None)
    if conns is None:
        conns = _thread_conns.by_path = OrderedDict()
    return conns


def _open_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection for the sandbox's own queries."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _round_totals(row: dict[str, Any]) -> dict[str, Any]:
    """Round money sums to cents (SQLite sums binary floats)."""
    return {k: (int(v) if k == "guarantors" else round(v or 0.0, 2)) for k, v in row.items()}
