""".NET date format patterns, as Open Dental's DateFormatString and DateTimeFormatString take them.

``net_format(moment, pattern)`` renders like .NET's ``DateTime.ToString(pattern)`` under the
en-US culture (Open Dental is a .NET program; offices are mostly in the US): custom specifiers
``y M d h H m s f F t z K g``, the separators ``:`` and ``/``, literals in quotes or after a
backslash, ``%`` before a lone specifier, and the one-letter standard formats below. What .NET
refuses (an unclosed quote, a trailing backslash or ``%``, more than seven ``f``, an unknown
standard format letter) raises ``InvalidPattern``. ``reformat`` applies the two patterns to
every date and datetime string in a JSON value.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
# en-US standard formats (one-letter patterns).
_STANDARD = {
    "d": "M/d/yyyy",
    "D": "dddd, MMMM d, yyyy",
    "f": "dddd, MMMM d, yyyy h:mm tt",
    "F": "dddd, MMMM d, yyyy h:mm:ss tt",
    "g": "M/d/yyyy h:mm tt",
    "G": "M/d/yyyy h:mm:ss tt",
    "m": "MMMM d",
    "M": "MMMM d",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "h:mm tt",
    "T": "h:mm:ss tt",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "y": "MMMM yyyy",
    "Y": "MMMM yyyy",
}
_SPECIFIERS = set("yMdhHmsfFtzKg")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class InvalidPattern(ValueError):
    """A pattern .NET would refuse with a FormatException."""


def net_format(moment: datetime, pattern: str) -> str:
    """``moment`` (naive, the office's local clock) rendered as .NET renders ``pattern``."""
    if len(pattern) == 1:
        if pattern not in _STANDARD:
            raise InvalidPattern(f"'{pattern}' is not a valid standard date format.")
        pattern = _STANDARD[pattern]
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in "'\"":
            end = pattern.find(char, i + 1)
            if end < 0:
                raise InvalidPattern("Unterminated quote in the date format.")
            out.append(pattern[i + 1 : end])
            i = end + 1
        elif char in "\\%":
            if i + 1 >= len(pattern) or (char == "%" and pattern[i + 1] in "%\\'\""):
                raise InvalidPattern(f"'{char}' must be followed by a character.")
            nxt = pattern[i + 1]
            out.append(_field(moment, nxt, 1) if char == "%" and nxt in _SPECIFIERS else nxt)
            i += 2
        else:
            count = _run_length(pattern, i)
            out.append(_field(moment, char, count) if char in _SPECIFIERS else char * count)
            i += count
    return "".join(out)


def _run_length(pattern: str, start: int) -> int:
    """How many times pattern[start] repeats from ``start``."""
    end = start
    while end < len(pattern) and pattern[end] == pattern[start]:
        end += 1
    return end - start


def _field(m: datetime, char: str, count: int) -> str:
    """One custom specifier repeated ``count`` times."""
    if char == "y":
        return f"{m.year % 100:0{count}d}" if count <= 2 else f"{m.year:0{count}d}"
    if char == "M":
        return _named(m.month, _MONTHS[m.month - 1], count)
    if char == "d":
        return _named(m.day, _DAYS[m.weekday()], count)
    if char in "fF":
        return _fraction(m, char, count)
    if char == "t":
        return ("AM" if m.hour < 12 else "PM")[: 1 if count == 1 else 2]
    if char in "zK":
        return _offset(m, char, count)
    if char == "g":
        return "A.D."
    value = {"h": (m.hour % 12) or 12, "H": m.hour, "m": m.minute, "s": m.second}[char]
    return f"{value:0{min(count, 2)}d}"


def _named(number: int, name: str, count: int) -> str:
    """d/dd/ddd/dddd and M/MM/MMM/MMMM: number, padded number, short name, full name."""
    if count <= 2:
        return f"{number:0{count}d}"
    return name[:3] if count == 3 else name


def _fraction(m: datetime, char: str, count: int) -> str:
    """f (fixed digits) and F (trailing zeros dropped) up to seven digits."""
    if count > 7:
        raise InvalidPattern("At most seven 'f' or 'F' in a date format.")
    digits = f"{m.microsecond:06d}0"[:count]
    return digits if char == "f" else digits.rstrip("0")


def _offset(m: datetime, char: str, count: int) -> str:
    """z/zz/zzz: the office's UTC offset (its values are local time); K: "" (no kind)."""
    if char == "K":
        return ""
    # 0001-01-01 is out of the OS's zone range: today's offset stands in for it.
    offset = (m if m.year > 1 else datetime.now()).astimezone().utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
    hours, mins = divmod(minutes, 60)
    if count == 1:
        return f"{sign}{hours}"
    return f"{sign}{hours:02d}" if count == 2 else f"{sign}{hours:02d}:{mins:02d}"


def check_pattern(pattern: str) -> None:
    """Raise InvalidPattern unless .NET would accept ``pattern``."""
    net_format(datetime(2000, 1, 1), pattern)


def reformat(
    data: Any, date_pattern: str | None, datetime_pattern: str | None, keep: frozenset[str]
) -> Any:
    """``data`` with every "yyyy-MM-dd" value rendered with ``date_pattern`` and every
    "yyyy-MM-dd HH:mm:ss" one with ``datetime_pattern`` (None: left as is); values under the
    keys in ``keep`` (text columns that happen to hold a date) are left alone."""
    if isinstance(data, list):
        return [reformat(item, date_pattern, datetime_pattern, keep) for item in data]
    if isinstance(data, dict):
        return {
            k: v if k in keep else reformat(v, date_pattern, datetime_pattern, keep)
            for k, v in data.items()
        }
    if isinstance(data, str):
        if date_pattern is not None and DATE_RE.match(data):
            return net_format(datetime.combine(date.fromisoformat(data), datetime.min.time()),
                              date_pattern)  # fmt: skip
        if datetime_pattern is not None and DATETIME_RE.match(data):
            return net_format(datetime.fromisoformat(data), datetime_pattern)
    return data
