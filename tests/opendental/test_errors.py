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


def test_throttled_parses_whole_seconds_as_the_sandbox_and_rfc_9110_send_them():
    error = classify(httpx.Response(429, text="Too many requests.", headers={"Retry-After": "1"}))
    assert isinstance(error, Throttled)
    assert error.retry_after == 1.0


def test_throttled_without_a_usable_retry_after_has_none():
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert classify(response).retry_after is None


def test_an_office_hiccup_400_is_transient():
    error = classify(httpx.Response(400, text="An unexpected error has occurred."))
    assert type(error) is BadRequest
    assert error.permanent is False


def test_an_unexpected_success_status_is_a_bad_response():
    assert isinstance(classify(httpx.Response(302, text="")), BadResponse)


MARKER = "Secret-Internal-Marker"


def test_an_html_error_page_is_described_never_quoted():
    page = f"<!DOCTYPE html><html><title>{MARKER}</title><body>{'x' * 5000}</body></html>"
    error = classify(httpx.Response(502, html=page))
    assert str(error) == "HTTP 502: not an Open Dental response: text/html, 5 KiB"
    assert MARKER not in f"{error} {error!r}" and error.body == ""


def test_html_sent_as_plain_text_is_described_too():
    error = classify(httpx.Response(502, text=f"<html><body>{MARKER}</body></html>"))
    assert str(error) == "HTTP 502: not an Open Dental response: text/plain, 48 B"


def test_a_long_plain_text_body_is_not_open_dental_text_and_is_described():
    error = classify(httpx.Response(400, text=f"{MARKER} " * 300))
    assert type(error) is BadRequest and error.permanent is True
    assert str(error) == "HTTP 400: not an Open Dental response: text/plain, 6.7 KiB"
    assert MARKER not in f"{error} {error.body}"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"error": "' + MARKER.encode() + b'"}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\x89PNG\r\n" + MARKER.encode(), "image/png"),
        (MARKER.encode() + b"\x00\x01", None),
        (MARKER.encode("utf-16"), "text/plain; charset=utf-8"),
        (b"<?xml version='1.0'?><e>" + MARKER.encode() + b"</e>", "application/xml"),
    ],
    ids=["other-json", "json-array", "png", "binary", "bad-charset", "xml"],
)
def test_bodies_that_are_not_open_dental_text_are_never_quoted(content, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    error = classify(httpx.Response(500, content=content, headers=headers))
    assert str(error).startswith("HTTP 500: not an Open Dental response: ")
    assert MARKER not in str(error) and error.body == ""


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"Invalid customer key", "text/plain; charset=utf-8"),
        (b"Invalid customer key", None),
        (b'"Invalid customer key"', "application/json; charset=utf-8"),
        (b'{"Message": "Invalid customer key"}', "application/json"),
    ],
    ids=["text", "untyped", "json-string", "aspnet-message"],
)
def test_open_dental_error_texts_are_kept(content, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    error = classify(httpx.Response(401, content=content, headers=headers))
    assert str(error) == "HTTP 401: Invalid customer key"
    assert error.body == "Invalid customer key"


def test_open_dental_text_is_shown_on_one_line_without_control_characters_and_bounded():
    text = "Error in SQL:\r\n\x1b[2Jnear \u202eSELEC\t" + "y" * 600
    error = classify(httpx.Response(400, text=text))
    assert isinstance(error, QueryError)
    message = str(error)
    assert message.startswith("HTTP 400: Error in SQL: [2Jnear SELEC yyy") and message.endswith("…")
    assert len(message) == len("HTTP 400: ") + 200
    assert not any(ch in message for ch in "\r\n\t\x1b\u202e")


def test_an_empty_error_body_says_so():
    assert str(classify(httpx.Response(503))) == "HTTP 503: (empty body)"
