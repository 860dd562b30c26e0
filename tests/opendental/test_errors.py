import httpx
import pytest

from integrations.opendental import (
    BadRequest,
    BadResponse,
    EConnectorDown,
    Gone,
    KeyRejected,
    NotFound,
    PermissionMissing,
    QueryError,
    QueryNotReadOnly,
    ServerError,
    ServerTimeout,
    Throttled,
    classify,
)

CASES = [
    (401, "Invalid developer key.", KeyRejected, True),
    (401, "Customer key is disabled (DisabledByCustomer).", KeyRejected, True),
    (401, "Customer key does not have the ApiQueries permission.", PermissionMissing, True),
    (401, "Query is not read-only.", QueryNotReadOnly, True),
    (400, "eConnector is not running or cannot be reached for this office.", EConnectorDown, False),
    (400, "'X' is not a valid parameter.", BadRequest, True),
    (400, "Content-Type must be application/json.", BadRequest, True),
    (400, 'Error in SQL: near "SELEC": syntax error', QueryError, True),
    (404, "Patient not found.", NotFound, True),
    (410, "This method is deprecated.", Gone, True),
    (429, "Too many requests.", Throttled, False),
    (500, "An unexpected error has occurred.", ServerError, False),
    (502, "Bad Gateway", ServerError, False),
    (504, "Gateway Time-out", ServerTimeout, False),
]


@pytest.mark.parametrize(("status", "body", "cls", "permanent"), CASES)
def test_classify_maps_status_and_body_to_the_error_class(status, body, cls, permanent):
    error = classify(httpx.Response(status, text=body))
    assert type(error) is cls
    assert error.status == status
    assert error.body == body
    assert error.permanent is permanent


def test_permission_missing_names_the_permission():
    error = classify(
        httpx.Response(401, text="Customer key does not have the ApiQueries permission.")
    )
    assert isinstance(error, PermissionMissing)
    assert error.permission == "ApiQueries"


def test_throttled_parses_a_decimal_retry_after():
    error = classify(
        httpx.Response(429, text="Too many requests.", headers={"Retry-After": "0.85"})
    )
    assert isinstance(error, Throttled)
    assert error.retry_after == 0.85


def test_throttled_without_a_usable_retry_after_has_none():
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert classify(response).retry_after is None


def test_an_office_hiccup_400_is_transient():
    error = classify(httpx.Response(400, text="An unexpected error has occurred."))
    assert type(error) is BadRequest
    assert error.permanent is False


def test_an_unexpected_success_status_is_a_bad_response():
    assert isinstance(classify(httpx.Response(302, text="")), BadResponse)


def test_html_error_pages_are_summarised_in_the_message():
    error = classify(httpx.Response(502, text="<html><body>" + "x" * 5000 + "</body></html>"))
    assert str(error).startswith("HTTP 502: HTML page: xxx") and str(error).endswith("…")
    assert len(str(error)) < 300 and len(error.body) <= 2000


def test_an_html_error_page_reads_as_its_text_without_markup_or_scripts():
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>h1{}</style></head>"
        "<body><h1>Bad&nbsp;Gateway</h1><script>track()</script><p>Try again &amp; wait.</p>"
        "</body></html>"
    )
    error = classify(httpx.Response(502, text=page))
    assert str(error) == "HTTP 502: HTML page: 502 Bad Gateway Bad Gateway Try again & wait."
    assert "(HTML page)" in str(classify(httpx.Response(503, text="<html><body></body></html>")))
