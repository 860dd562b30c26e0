"""Error classes for the Open Dental API and `classify()`, which maps a response onto them.

Every error carries the HTTP status (None for transport errors), Open Dental's own error text
(``body``) and a `permanent` flag: permanent errors will fail again if retried unchanged (bad
key, missing permission, non-read-only SQL, an oversized answer); transient ones may succeed
later (eConnector down, throttled, timeouts, 5xx, garbled responses).

Messages are shown to every member of an account (the office's last error, its runs, its
status history), so they hold only the classified cause and Open Dental's own short error
text (`od_text`: short plain text, one line, bounded). Any other body (an HTML page, binary,
JSON of another shape, anything long: perhaps not Open Dental at all) is described, never
quoted (`describe_body`); transport failures say "could not connect to <host>" whatever the
cause, so an error never tells a listening port from a closed one. Messages never contain keys.
"""

from __future__ import annotations

import json
import re
import unicodedata

import httpx

OD_TEXT_MAX_BYTES = 1024  # a longer error body is not one of Open Dental's short texts
OD_TEXT_SHOWN = 200  # characters of Open Dental's text kept in a message
BODY_LIMIT = OD_TEXT_MAX_BYTES  # what an error's ``body`` holds at most


class OpenDentalError(Exception):
    """Base class: an Open Dental API call failed."""

    default_permanent = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body[:BODY_LIMIT]
        self.permanent = self.default_permanent if permanent is None else permanent

    @property
    def transient(self) -> bool:
        return not self.permanent

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class KeyRejected(OpenDentalError):
    """401: the developer or customer key is invalid, unassigned or disabled."""

    default_permanent = True


class PermissionMissing(KeyRejected):
    """401: the key lacks the permission for this method (`.permission` when named)."""

    def __init__(self, message: str, *, permission: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.permission = permission


class QueryNotReadOnly(OpenDentalError):
    """401: the SQL sent to a query endpoint is not read-only."""

    default_permanent = True


class BadRequest(OpenDentalError):
    """400 not otherwise recognised: bad parameter, validation, office too old."""

    default_permanent = True


class EConnectorDown(BadRequest):
    """400: the office's eConnector is not running or cannot be reached."""

    default_permanent = False


class QueryError(BadRequest):
    """400: the SQL has an error."""

    default_permanent = True


class NotFound(OpenDentalError):
    """404: unknown route or record."""

    default_permanent = True


class Gone(OpenDentalError):
    """410: the method is deprecated."""

    default_permanent = True


class Throttled(OpenDentalError):
    """429: too many requests for this customer key (`.retry_after` seconds when sent)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PaceDeferred(Throttled):
    """Not sent: the key's next free slot is further away than the caller will wait."""


class ServerError(OpenDentalError):
    """5xx other than 504."""


class ServerTimeout(ServerError):
    """504: the request did not finish within the server's time limit."""


class BadResponse(OpenDentalError):
    """The response could not be understood: malformed/truncated JSON, HTML, wrong shape."""


class ResponseTooLarge(BadResponse):
    """The answer is longer than the client's size cap (read no further than the cap).

    Permanent: Open Dental's pages are at most 100 rows remotely (1000 locally), far below
    the cap, so an answer this large is no page of Open Dental's and would come back as large
    on a retry; retrying it at once only multiplies the cost (each attempt reads up to the
    cap). The office's next scheduled poll tries again anyway.
    """

    default_permanent = True


class Timeout(OpenDentalError):
    """No complete response within the client's deadline (or a per-operation timeout)."""


class Unreachable(OpenDentalError):
    """The server could not be reached, or the connection failed (refused, DNS, reset,
    not HTTP): one message for all, "Could not connect to <host>"."""


_PERMISSION_RE = re.compile(r"\b(Api[A-Za-z]+)\b")
# 400 texts that mean "the office had a hiccup", not "your request is wrong".
_TRANSIENT_400 = ("unexpected error", "timed out", "timeout")
_MEDIA_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,40}/[a-z0-9][a-z0-9.+-]{0,40}$")


def classify(
    response: httpx.Response, content: bytes | None = None, *, cut_at: int | None = None
) -> OpenDentalError:
    """Map a non-success response onto the matching OpenDentalError subclass.

    ``content`` is the body as read (``response.content`` when not given); ``cut_at`` is set
    when the body was longer than that many bytes and not read whole.
    """
    status = response.status_code
    content = response.content if content is None else content
    content_type = response.headers.get("Content-Type")
    text = od_text(content, content_type) if cut_at is None else None
    shown = (
        one_line(text, OD_TEXT_SHOWN)
        if text
        else describe_body(content, content_type, cut_at=cut_at)
    )
    message = f"HTTP {status}: {shown}"
    lowered = (text or "").lower()
    kw = {"status": status, "body": text or ""}
    if status == 401:
        return _classify_401(message, lowered, text or "", kw)
    if status == 400:
        return _classify_400(message, lowered, kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 410:
        return Gone(message, **kw)
    if status == 429:
        return Throttled(message, retry_after=parse_retry_after(response), **kw)
    if status == 504:
        return ServerTimeout(message, **kw)
    if status >= 500:
        return ServerError(message, **kw)
    if 400 <= status < 500:
        return BadRequest(message, **kw)
    return BadResponse(f"Unexpected {message}", **kw)


def _classify_401(message: str, lowered: str, text: str, kw: dict) -> OpenDentalError:
    if "read-only" in lowered or "read only" in lowered:
        return QueryNotReadOnly(message, **kw)
    if "permission" in lowered:
        match = _PERMISSION_RE.search(text)
        return PermissionMissing(message, permission=match.group(1) if match else None, **kw)
    return KeyRejected(message, **kw)


def _classify_400(message: str, lowered: str, kw: dict) -> OpenDentalError:
    if "econnector" in lowered:
        return EConnectorDown(message, **kw)
    if "error in sql" in lowered:
        return QueryError(message, **kw)
    transient = any(marker in lowered for marker in _TRANSIENT_400)
    return BadRequest(message, permanent=not transient, **kw)


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header: whole seconds (RFC 9110, what the sandbox sends) or,
    leniently, decimal ones; HTTP dates are ignored (backoff applies then)."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value else None  # rejects NaN


def od_text(content: bytes, content_type: str | None) -> str | None:
    """Open Dental's own error text in a body, one line; None when the body is not one.

    Open Dental answers errors with a short explanation: plain text (what the sandbox sends),
    or, as ASP.NET may, a JSON string or ``{"Message": "..."}`` [I: the wire format is not
    documented]. Anything else, longer than OD_TEXT_MAX_BYTES, HTML/XML, other JSON, binary
    or in an undecodable charset, is no Open Dental text.
    """
    if not content.strip() or len(content) > OD_TEXT_MAX_BYTES:
        return None
    if media_type(content_type) not in ("", "text/plain", "application/json"):
        return None
    text = _decode(content, content_type)
    if text is None:
        return None
    stripped = text.strip().lstrip("\ufeff")
    if stripped[:1] in ('"', "{", "["):
        stripped = _json_message(stripped)
    if not stripped or looks_like_html(stripped):
        return None
    return one_line(stripped, OD_TEXT_MAX_BYTES) or None


def _decode(content: bytes, content_type: str | None) -> str | None:
    """The body as text in its declared charset (UTF-8 if none); None if it does not decode
    or holds NUL bytes (binary)."""
    charset = "utf-8"
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or charset
    try:
        text = content.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None
    return None if "\x00" in text else text


def _json_message(text: str) -> str:
    """The message of a JSON error body (a string, or an object holding only "Message");
    "" for JSON of any other shape."""
    try:
        value = json.loads(text)
    except ValueError:
        return "" if text[:1] in ("{", "[") else text  # a quote-led sentence is kept as text
    if isinstance(value, dict) and set(value) == {"Message"}:
        value = value["Message"]
    return value if isinstance(value, str) else ""


def one_line(text: str, limit: int) -> str:
    """``text`` on one line: control, format and other invisible characters removed,
    whitespace collapsed, at most ``limit`` characters (cut with "…")."""
    visible = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    flat = " ".join(visible.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_body(content: bytes, content_type: str | None, *, cut_at: int | None = None) -> str:
    """A body that is not Open Dental's text, described (type and size), never quoted;
    ``cut_at``: the body was longer than that many bytes (and not read whole)."""
    if not content.strip() and cut_at is None:
        return "(empty body)"
    kind = media_type(content_type) or _sniff(content)
    size = size_text(len(content)) if cut_at is None else f"over {size_text(cut_at)}"
    return f"not an Open Dental response: {kind}, {size}"


def media_type(content_type: str | None) -> str:
    """The declared media type, lower case ("" when absent; "unknown type" when malformed)."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if not declared:
        return ""
    return declared if _MEDIA_TYPE_RE.match(declared) else "unknown type"


def _sniff(content: bytes) -> str:
    start = content.lstrip()[:1]
    if start == b"<":
        return "HTML"
    if start in (b"{", b"["):
        return "JSON"
    return "untyped body"


def size_text(size: int) -> str:
    """A byte count for people: 512 B, 12 KiB, 16 MiB."""
    if size < 1024:
        return f"{size} B"
    value, unit = (size / 1024, "KiB") if size < 1024 * 1024 else (size / 1024**2, "MiB")
    shown = f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")
    return f"{shown} {unit}"


def looks_like_html(text: str | bytes) -> bool:
    """An HTML (or XML) page where JSON or plain text was expected."""
    return text.lstrip()[:1] in ("<", b"<")
