"""The .NET date format converter behind DateFormatString and DateTimeFormatString."""

from __future__ import annotations

from datetime import datetime

import pytest

from odsandbox.dateformat import InvalidPattern, check_pattern, net_format, reformat

MOMENT = datetime(2022, 5, 1, 14, 3, 9, 123456)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("MM/dd/yyyy", "05/01/2022"),
        ("M/d/yy", "5/1/22"),
        ("yyyy-MM-dd HH:mm:ss", "2022-05-01 14:03:09"),
        ("M/d/yyyy h:mm tt", "5/1/2022 2:03 PM"),
        ("hh:mm t", "02:03 P"),
        ("H:m:s", "14:3:9"),
        ("yyyy-MM-ddTHH:mm:ss.fff", "2022-05-01T14:03:09.123"),
        ("ss.fffffff", "09.1234560"),
        ("ss.FFFFFFF", "09.123456"),
        ("ddd, MMM d", "Sun, May 1"),
        ("dddd d MMMM yyyy", "Sunday 1 May 2022"),
        ("'Day' d 'of' M", "Day 1 of 5"),
        ('"at" H\\h', "at 14h"),
        ("%d", "1"),
        ("%M/%d", "5/1"),
        ("yyyyMMdd", "20220501"),
        ("d", "5/1/2022"),
        ("s", "2022-05-01T14:03:09"),
        ("G", "5/1/2022 2:03:09 PM"),
        ("y", "May 2022"),
        ("yyyyy", "02022"),
        ("g", "5/1/2022 2:03 PM"),
        ("gg yyyy", "A.D. 2022"),
        ("HH:mm K", "14:03 "),
    ],
)
def test_net_format_renders_like_dotnet(pattern: str, expected: str) -> None:
    assert net_format(MOMENT, pattern) == expected


def test_twelve_oclock_and_midnight_on_the_twelve_hour_clock() -> None:
    assert net_format(datetime(2022, 1, 1, 0, 5), "h:mm tt") == "12:05 AM"
    assert net_format(datetime(2022, 1, 1, 12, 5), "h:mm tt") == "12:05 PM"


def test_zone_offset_is_the_machine_local_one() -> None:
    offset = MOMENT.astimezone().strftime("%z")
    assert net_format(MOMENT, "zzz") == f"{offset[:3]}:{offset[3:]}"
    assert net_format(MOMENT, "zz") == offset[:3]


def test_year_one_still_renders() -> None:
    assert net_format(datetime(1, 1, 1), "MM/dd/yyyy") == "01/01/0001"
    assert net_format(datetime(1, 1, 1), "yyyy-MM-dd zzz").startswith("0001-01-01 ")


@pytest.mark.parametrize("pattern", ["'unclosed", 'MM "x', "yyyy\\", "%", "ffffffff", "q", "%%"])
def test_patterns_dotnet_refuses_are_invalid(pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        check_pattern(pattern)


def test_reformat_touches_dates_and_datetimes_but_not_kept_keys_or_other_text() -> None:
    data = [
        {
            "Birthdate": "1980-02-03",
            "DateTStamp": "2021-08-04 08:33:01",
            "ValueString": "2021-08-04",
            "Note": "2021-08-04 is a Wednesday",
            "Nested": {"When": "0001-01-01"},
            "Num": 3,
            "T": "2021-08-04T08:33:01",
        }
    ]
    out = reformat(data, "MM/dd/yyyy", "M/d/yyyy h:mm tt", frozenset({"ValueString"}))
    assert out == [
        {
            "Birthdate": "02/03/1980",
            "DateTStamp": "8/4/2021 8:33 AM",
            "ValueString": "2021-08-04",
            "Note": "2021-08-04 is a Wednesday",
            "Nested": {"When": "01/01/0001"},
            "Num": 3,
            "T": "2021-08-04T08:33:01",
        }
    ]


def test_reformat_with_only_one_pattern_leaves_the_other_kind() -> None:
    data = {"D": "1980-02-03", "DT": "2021-08-04 08:33:01"}
    assert reformat(data, None, "yyyy", frozenset()) == {"D": "1980-02-03", "DT": "2021"}
    assert reformat(data, "yyyy", None, frozenset()) == {"D": "1980", "DT": "2021-08-04 08:33:01"}
