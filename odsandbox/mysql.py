"""Open Dental's MySQL dialect on SQLite: sqlglot transpiles, and the MySQL functions SQLite
lacks (or spells with another meaning) are Python functions registered on the connection.

``OfficeSQLite`` is sqlglot's SQLite dialect with a few generator changes, each because
sqlglot's SQLite spelling does not run on SQLite 3.40 or means something else there:
CURRENT_DATE/CURRENT_TIMESTAMP are UTC in SQLite (the sandbox's clock is local), DATE_SUB and
interval arithmetic come out unrunnable, ``DATE(x, '+1 month')`` turns datetimes into dates and
overflows month ends, DATEDIFF counts fractions of days, and GROUP_CONCAT's ORDER BY needs
SQLite 3.44. Those nodes become calls to the functions in ``register``.
"""

from __future__ import annotations

import calendar
import math
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.generators.sqlite import SQLiteGenerator

_DELTAS = {
    "MICROSECOND": timedelta(microseconds=1),
    "SECOND": timedelta(seconds=1),
    "MINUTE": timedelta(minutes=1),
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(weeks=1),
}
_MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
_TIME_UNITS = frozenset({"MICROSECOND", "SECOND", "MINUTE", "HOUR"})


def _unit(node: exp.Expr | None) -> exp.Literal:
    return exp.Literal.string(node.name.upper() if node is not None else "DAY")


def _interval_sql(name: str) -> Callable[[SQLiteGenerator, exp.Expr], str]:
    def sql(self: SQLiteGenerator, e: exp.Expr) -> str:
        amount, unit = e.expression, e.args.get("unit")
        if isinstance(amount, exp.Interval):
            unit, amount = unit or amount.args.get("unit"), amount.this
        return self.func(name, e.this, amount, _unit(unit))

    return sql


def _group_concat_sql(self: SQLiteGenerator, e: exp.GroupConcat) -> str:
    """GROUP_CONCAT with ORDER BY (SQLite 3.44+), or DISTINCT with a separator (SQLite takes
    one argument with DISTINCT), as an aggregate that sorts in Python."""
    order = e.this if isinstance(e.this, exp.Order) else None
    value = order.this if order else e.this
    distinct = isinstance(value, exp.Distinct)
    sep = e.args.get("separator")
    if order is None and not (distinct and sep):
        return self.func("GROUP_CONCAT", e.this, sep)
    if distinct:
        value = value.expressions[0]
    keys = order.expressions if order else []
    flags = ("U" if distinct else "") + "".join("D" if o.args.get("desc") else "A" for o in keys)
    sep = sep or exp.Literal.string(",")
    return self.func(
        "GROUP_CONCAT_SORTED", value, sep, exp.Literal.string(flags), *(o.this for o in keys)
    )


class OfficeSQLite(SQLite):
    """SQLite as the sandbox runs it: MySQL date functions map to the registered functions."""

    class Generator(SQLiteGenerator):
        TRANSFORMS = {
            **SQLiteGenerator.TRANSFORMS,
            exp.CurrentDate: lambda *_: "CURDATE()",
            exp.CurrentTimestamp: lambda *_: "NOW()",
            exp.CurrentTime: lambda *_: "CURTIME()",
            exp.DateAdd: _interval_sql("DATE_ADD"),
            exp.DateSub: _interval_sql("DATE_SUB"),
            exp.DateDiff: lambda self, e: self.func("DATEDIFF", e.this, e.expression),
            exp.TimestampDiff: lambda self, e: self.func(
                "TIMESTAMPDIFF", _unit(e.args.get("unit")), e.expression, e.this
            ),
            # sqlglot has already mapped MySQL's specifiers (%i, %W, %e ...) onto Python's.
            exp.TimeToStr: lambda self, e: self.func("STRFTIME_PY", e.this, e.args.get("format")),
            exp.StrToTime: lambda self, e: self.func("STRPTIME_PY", e.this, e.args.get("format")),
            exp.StrToDate: lambda self, e: self.func(
                "DATE", self.func("STRPTIME_PY", e.this, e.args.get("format"))
            ),
            exp.GroupConcat: _group_concat_sql,
            # LEFT and RIGHT are keywords in SQLite, not functions.
            exp.Left: lambda self, e: self.func(
                "SUBSTR", e.this, exp.Literal.number(1), e.expression
            ),
            exp.Right: lambda self, e: self.func("SUBSTR", e.this, exp.Neg(this=e.expression)),
            exp.Trunc: lambda self, e: self.func("TRUNCATE", e.this, e.args.get("decimals")),
        }


def parse_moment(value: object) -> tuple[datetime, bool] | None:
    """A DATE or DATETIME text as (datetime, has a time part); None for anything else (NULL)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value.strip()), len(value.strip()) > 10
    except ValueError:
        return None


def _format(moment: datetime, with_time: bool) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if with_time else moment.date().isoformat()


def _neg(amount: object) -> object:
    number = _number(amount)
    return None if number is None else -number


def _number(amount: object) -> float | None:
    try:
        return float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def date_add(value: object, amount: object, unit: str) -> str | None:
    """MySQL DATE_ADD: dates stay dates for whole-day units, month ends clamp (Jan 31 + 1 month
    is Feb 28/29), anything unparsable is NULL."""
    parsed, number = parse_moment(value), _number(amount)
    if parsed is None or number is None:
        return None
    moment, with_time = parsed
    n = round(number)
    try:
        if unit in _MONTHS:
            moment = _add_months(moment, n * _MONTHS[unit])
        elif unit in _DELTAS:
            moment = moment + n * _DELTAS[unit]
        else:
            return None
    except (OverflowError, ValueError):
        return None
    return _format(moment, with_time or unit in _TIME_UNITS)


def _add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def datediff(end: object, start: object) -> int | None:
    """MySQL DATEDIFF: whole days between the date parts (the time of day is ignored)."""
    a, b = parse_moment(end), parse_moment(start)
    return None if a is None or b is None else (a[0].date() - b[0].date()).days


def timestampdiff(unit: str, start: object, end: object) -> int | None:
    """MySQL TIMESTAMPDIFF: whole units from start to end, truncated toward zero."""
    a, b = parse_moment(start), parse_moment(end)
    if a is None or b is None:
        return None
    first, last = a[0], b[0]
    if unit in _MONTHS:
        months = (last.year - first.year) * 12 + last.month - first.month
        tail_first = (first.day, first.time())
        tail_last = (last.day, last.time())
        if months > 0 and tail_last < tail_first:
            months -= 1
        elif months < 0 and tail_last > tail_first:
            months += 1
        return int(months / _MONTHS[unit])
    if unit in _DELTAS:
        return int((last - first) / _DELTAS[unit])
    return None


def _part(name: str) -> Callable[[object], int | None]:
    def part(value: object) -> int | None:
        parsed = parse_moment(value)
        return None if parsed is None else getattr(parsed[0], name)

    return part


def _weekday(number: Callable[[date], int]) -> Callable[[object], int | None]:
    """DAYOFWEEK (1 = Sunday) or WEEKDAY (0 = Monday) of a date text."""

    def weekday(value: object) -> int | None:
        parsed = parse_moment(value)
        return None if parsed is None else number(parsed[0].date())

    return weekday


def number_to_str(value: object, decimals: object) -> str | None:
    """MySQL FORMAT(x, d): '1,234.50'."""
    number, places = _number(value), _number(decimals)
    return None if number is None or places is None else f"{number:,.{max(int(places), 0)}f}"


def truncate(value: object, decimals: object = 0) -> float | None:
    """MySQL TRUNCATE(x, d): cut (not round) to d decimals."""
    number, places = _number(value), _number(decimals)
    if number is None or places is None:
        return None
    scale = 10 ** int(places)
    return math.trunc(number * scale) / scale


def last_day(value: object) -> str | None:
    """MySQL LAST_DAY: the month's last date."""
    parsed = parse_moment(value)
    if parsed is None:
        return None
    moment = parsed[0]
    return date(
        moment.year, moment.month, calendar.monthrange(moment.year, moment.month)[1]
    ).isoformat()


def strftime_py(value: object, fmt: str) -> str | None:
    """DATE_FORMAT with the format already in Python's strftime specifiers."""
    parsed = parse_moment(value)
    return None if parsed is None or fmt is None else parsed[0].strftime(fmt)


def strptime_py(value: object, fmt: str) -> str | None:
    """STR_TO_DATE with a Python strptime format; NULL when the text does not match."""
    try:
        moment = datetime.strptime(str(value), fmt)
    except (TypeError, ValueError):
        return None
    return _format(moment, any(s in fmt for s in ("%H", "%I", "%M", "%S")))


def concat_ws(sep: object, *parts: object) -> str | None:
    """MySQL CONCAT_WS: NULL separator gives NULL, NULL parts are skipped."""
    if sep is None:
        return None
    return str(sep).join(str(p) for p in parts if p is not None)


class GroupConcatSorted:
    """GROUP_CONCAT(value, separator, flags, *keys): ``flags`` is 'U' for DISTINCT then one
    'A'/'D' per ORDER BY key. Text sorts case-insensitively and NULL first, as in MySQL."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, tuple[object, ...]]] = []
        self.sep, self.flags = ",", ""

    def step(self, value: object, sep: object, flags: str, *keys: object) -> None:
        self.sep, self.flags = str(sep), flags
        if value is not None:
            self.rows.append((value, keys))

    def finalize(self) -> str | None:
        directions = self.flags.lstrip("U")
        rows = self.rows
        for i in reversed(range(len(directions))):
            rows = sorted(rows, key=lambda r, i=i: _sort_key(r[1][i]), reverse=directions[i] == "D")
        values = [str(v) for v, _ in rows]
        if self.flags.startswith("U"):
            values = list(dict.fromkeys(values))
        return self.sep.join(values) if values else None


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    return (2, value.casefold()) if isinstance(value, str) else (1, value)


# name -> (number of arguments, function): what OfficeSQLite's output calls besides SQLite's own.
_SCALARS: dict[str, tuple[int, Callable[..., object]]] = {
    "DATE_ADD": (3, date_add),
    "DATE_SUB": (3, lambda v, n, u: date_add(v, _neg(n), u)),
    "DATEDIFF": (2, datediff),
    "TIMESTAMPDIFF": (3, timestampdiff),
    "YEAR": (1, _part("year")),
    "MONTH": (1, _part("month")),
    "DAY": (1, _part("day")),
    "DAY_OF_MONTH": (1, _part("day")),
    "HOUR": (1, _part("hour")),
    "MINUTE": (1, _part("minute")),
    "SECOND": (1, _part("second")),
    "DAY_OF_WEEK": (1, _weekday(lambda d: d.isoweekday() % 7 + 1)),  # 1 = Sunday
    "WEEKDAY": (1, _weekday(lambda d: d.weekday())),  # 0 = Monday
    "DAYNAME": (1, lambda v: strftime_py(v, "%A")),
    "LAST_DAY": (1, last_day),
    "STRFTIME_PY": (2, strftime_py),
    "STRPTIME_PY": (2, strptime_py),
    "NUMBER_TO_STR": (2, number_to_str),
    "TRUNCATE": (-1, truncate),
    "CONCAT_WS": (-1, concat_ws),
}


def register(conn: sqlite3.Connection, now: datetime) -> None:
    """The functions OfficeSQLite's output calls; NOW() and CURDATE() hold for the request."""
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    clock = {"NOW": stamp, "SYSDATE": stamp, "CURDATE": stamp[:10], "CURTIME": stamp[11:]}
    for name, value in clock.items():
        conn.create_function(name, 0, lambda value=value: value)
    for name, (arity, function) in _SCALARS.items():
        conn.create_function(name, arity, function, deterministic=True)
    conn.create_aggregate("GROUP_CONCAT_SORTED", -1, GroupConcatSorted)
