"""Strict parsing of Open Dental JSON at the boundary.

Anything that does not match what the API documents raises `BadResponse`, never KeyError or
TypeError. Its message names the object, the field and what was expected, never the value
sent: messages are shown to every member of the account, and values are office data
(patients' names, birthdates) or, from something that is not Open Dental, anything at all.
Conventions (apiimplementation.html): booleans are the strings "true"/"false", dates
"yyyy-MM-dd", datetimes "yyyy-MM-dd HH:mm:ss" (ShortQuery uses "yyyy-MM-ddTHH:mm:ss"),
"0001-01-01" means "no value", money is a JSON number (parsed as Decimal, never float),
colours are "R,G,B" strings. Documented oddities are accepted where the docs show them (the
providers doc's ``"serverDateTime": ""``: ``Fields.moment(..., blank=True)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from .errors import BadResponse, looks_like_html

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COLOR_RE = re.compile(r"^\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,7})?$")
_MISSING = object()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT64_DIGITS = 19  # Decimal.adjusted() of 2**63 is 18


def loads(content: bytes | str) -> Any:
    """Decode a JSON body with Decimal floats; HTML, empty or truncated bodies -> BadResponse."""
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    stripped = text.lstrip()
    if not stripped:
        raise BadResponse("Empty response body where JSON was expected")
    if looks_like_html(stripped):
        raise BadResponse("HTML response where JSON was expected")
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise BadResponse(f"Malformed JSON: {exc.msg} at offset {exc.pos}") from None
    except RecursionError:
        raise BadResponse("Malformed JSON: nested too deeply") from None
    except ValueError:  # an integer longer than Python's int_max_str_digits (4300)
        raise BadResponse("Malformed JSON: a number is too long") from None


def loads_typed(
    content: bytes, type_: Any, check: Callable[[bytes, Any], bool] | None = None
) -> Any:
    """Decode straight into ``type_`` (msgspec: JSON numbers become exact Decimals, in C).

    A body that does not fit the type exactly (another key case, an integer sent as 3.0, an
    error page), or that ``check(content, decoded)`` refuses, is decoded by ``loads`` instead,
    so the caller's strict checks decide: the fast path only accepts what the strict one would.
    """
    try:
        decoded = msgspec.json.decode(content, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return loads(content)
    return decoded if check is None or check(content, decoded) else loads(content)


def expect_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise BadResponse(f"{what}: expected a JSON array, got {type(data).__name__}")
    return data


def expect_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadResponse(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_bool(value: Any, what: str = "value") -> bool:
    """Open Dental's string booleans: "true"/"false" in any case; anything else is an error."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    raise BadResponse(f"{what}: expected 'true' or 'false', got {_kind(value)}")


def parse_date(value: Any, what: str = "value") -> date | None:
    """ "yyyy-MM-dd" (or a midnight datetime, as ShortQuery sends) -> date; 0001-01-01 -> None."""
    if isinstance(value, str) and _DATE_RE.match(value):
        parsed = _from_iso(date.fromisoformat, value, what)
        return None if parsed.year == 1 else parsed
    if isinstance(value, str) and _DATETIME_RE.match(value):
        moment = parse_datetime(value, what)
        if moment is None:
            return None
        if moment.time() != datetime.min.time():
            raise BadResponse(f"{what}: expected a date, got a datetime with a time of day")
        return moment.date()
    raise BadResponse(f"{what}: expected a date 'yyyy-MM-dd', got {_kind(value)}")


def parse_datetime(value: Any, what: str = "value") -> datetime | None:
    """ "yyyy-MM-dd HH:mm:ss" or ISO "T" form -> naive datetime; 0001-01-01 00:00:00 -> None."""
    if isinstance(value, str) and _DATETIME_RE.match(value):
        parsed = _from_iso(datetime.fromisoformat, value.replace(" ", "T"), what)
        return None if parsed.year == 1 else parsed
    if isinstance(value, str) and _DATE_RE.match(value):
        day = parse_date(value, what)
        return None if day is None else datetime(day.year, day.month, day.day)
    raise BadResponse(f"{what}: expected a datetime 'yyyy-MM-dd HH:mm:ss', got {_kind(value)}")


def _from_iso(parser: Any, value: str, what: str) -> Any:
    try:
        return parser(value)
    except ValueError:
        raise BadResponse(f"{what}: not a valid date/time") from None


def parse_color(value: Any, what: str = "value") -> tuple[int, int, int]:
    """A colour: "R,G,B" as the API sends it (``provColor``, ``colorOverride``), or the .NET
    ARGB integer the database stores (a ShortQuery on ``provider.ProvColor``) -> (r, g, b)."""
    if isinstance(value, str) and (match := _COLOR_RE.match(value)):
        rgb = tuple(int(part) for part in match.groups())
        if all(part <= 255 for part in rgb):
            return rgb  # type: ignore[return-value]
        raise BadResponse(f"{what}: colour component above 255")
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        argb = parse_int(value, what)
        if -(2**31) <= argb < 2**32:
            return (argb >> 16) & 255, (argb >> 8) & 255, argb & 255
    raise BadResponse(f"{what}: expected a colour 'R,G,B', got {_kind(value)}")


def parse_money(value: Any, what: str = "value") -> Decimal:
    """A JSON number (int or Decimal from parse_float) -> Decimal; strings and bools rejected."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise BadResponse(f"{what}: expected a number, got {_kind(value)}")
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise BadResponse(f"{what}: expected a finite number, got {value}")
    return amount


def parse_int(value: Any, what: str = "value") -> int:
    """A JSON integer (a Decimal with no fraction is accepted too, as SQL sums can send 3.0).

    Open Dental's integers are 64-bit; anything larger is rejected before ``int()`` would
    build a huge number (``1e999999999`` would take minutes and gigabytes).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < _INT64_DIGITS
        and value == value.to_integral_value()
    ):
        number = int(value)
    else:
        got = _kind(value)
        got = "a fraction or an over-long number" if got == "a number" else got
        raise BadResponse(f"{what}: expected an integer, got {got}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise BadResponse(f"{what}: integer out of 64-bit range")
    return number


def _kind(value: Any) -> str:
    """What a JSON value is, without the value: "a string", "a number", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string in another format" if value else "an empty string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def parse_str(value: Any, what: str = "value") -> str:
    if not isinstance(value, str):
        raise BadResponse(f"{what}: expected a string, got {_kind(value)}")
    return value


class Fields:
    """Typed, strict access to one JSON object; errors name the object and the field."""

    def __init__(self, data: Any, what: str, *, case_insensitive: bool = False) -> None:
        if not isinstance(data, Mapping):
            raise BadResponse(f"{what}: expected a JSON object, got {type(data).__name__}")
        self.what = what
        if case_insensitive:
            self._data = {str(k).lower(): v for k, v in data.items()}
        else:
            self._data = dict(data)
        self._fold = case_insensitive

    def _get(self, name: str, default: Any) -> Any:
        value = self._data.get(name.lower() if self._fold else name, _MISSING)
        if value is _MISSING or (value is None and default is not _MISSING):
            if default is _MISSING:
                raise BadResponse(f"{self.what}: missing field {name!r}")
            return default
        return value

    def _label(self, name: str) -> str:
        return f"{self.what}.{name}"

    def integer(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        return value if value is default else parse_int(value, self._label(name))

    def text(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        return value if value is default else parse_str(value, self._label(name))

    def flag(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        return value if value is default else parse_bool(value, self._label(name))

    def money(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        if type(value) is Decimal and value.is_finite():  # fast path: what loads() produces
            return value
        return value if value is default else parse_money(value, self._label(name))

    def day(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        return value if value is default else parse_date(value, self._label(name))

    def moment(self, name: str, default: Any = _MISSING, *, blank: bool = False) -> Any:
        """A datetime; with ``blank``, an empty string (as documented for it) reads as None."""
        value = self._get(name, default)
        if value is default:
            return value
        if blank and value == "":
            return None
        return parse_datetime(value, self._label(name))

    def color(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        return value if value is default else parse_color(value, self._label(name))
