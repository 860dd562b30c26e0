"""Pieces of the request pipeline (odsandbox.app) that no current route exercises on its own:
lenient parameter checking and date patterns on a handler's own Response."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from odsandbox.app import _check_params, _reformatted
from odsandbox.web import ApiError, json_response


def test_a_handlers_own_json_response_is_reformatted_with_status_and_headers_kept() -> None:
    created = json_response({"PatNum": 48, "Birthdate": "1980-02-03"}, status=201)
    created.headers["Location"] = "http://127.0.0.1/api/v1/patients/48"
    out = _reformatted(created, ("dd.MM.yyyy", None))
    assert (out.status_code, out.headers["Location"]) == (201, created.headers["Location"])
    assert out.body == b'{"PatNum": 48, "Birthdate": "03.02.1980"}'
    assert out.headers["content-length"] == str(len(out.body))


def _request(query: str):
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                    "headers": []})  # fmt: skip


def test_parameters_match_in_any_case_and_unknown_ones_are_400_unless_lenient() -> None:
    allowed = ("Limit", "Offset", "DateFormatString")
    request = _request("limit=5&OFFSET=10&dateformatstring=yyyy&fields=AptNum")
    with pytest.raises(ApiError, match="'fields' is not a valid parameter."):
        _check_params(request, allowed)
    lenient = _check_params(request, allowed, strict=False)
    assert lenient == {"Limit": "5", "Offset": "10", "DateFormatString": "yyyy"}
