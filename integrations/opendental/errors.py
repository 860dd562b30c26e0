"""Error classes for the Open Dental API and `classify()`, which maps a response onto them.

Every error carries the HTTP status (None for transport errors), the server's body text and a
`permanent` flag: permanent errors will fail again if retried unchanged (bad key, missing
permission, non-read-only SQL); transient ones may succeed later (eConnector down, throttled,
timeouts, 5xx, garbled responses). Messages never contain keys.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

BODY_LIMIT = 2000  # keep exception bodies bounded (an HTML error page can be large)


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


class Timeout(OpenDentalError):
    """No (complete) response within the client's timeout."""


class Unreachable(OpenDentalError):
    """The server could not be reached (connection refused, DNS, reset)."""


_PERMISSION_RE = re.compile(r"\b(Api[A-Za-z]+)\b")
# 400 texts that mean "the office had a hiccup", not "your request is wrong".
_TRANSIENT_400 = ("unexpected error", "timed out", "timeout")


def safe_text(response: httpx.Response) -> str:
    """The body as text even when it does not decode in its declared charset."""
    try:
        return response.content.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return response.content.decode("utf-8", errors="replace")


def classify(response: httpx.Response, *, body: str | None = None) -> OpenDentalError:
    """Map a non-success response onto the matching OpenDentalError subclass."""
    status = response.status_code
    text = safe_text(response) if body is None else body
    lowered = text.lower()
    message = f"HTTP {status}: {_summary(text)}"
    kw = {"status": status, "body": text}
    if status == 401:
        return _classify_401(message, lowered, text, kw)
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
    return BadResponse(f"Unexpected HTTP {status}: {_summary(text)}", **kw)


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
    """Seconds from a Retry-After header (decimal seconds; HTTP dates are ignored)."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value else None  # rejects NaN


def _summary(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    if looks_like_html(flat):
        # Proxies and web servers in front of the API answer with HTML pages: keep their words.
        readable = html_text(flat)
        if not readable:
            return "(HTML page)"
        flat = f"HTML page: {readable}"
    return flat if len(flat) <= limit else flat[:limit] + "…"


def looks_like_html(text: str) -> bool:
    """An HTML (or XML) page where JSON or plain text was expected."""
    return text.lstrip().startswith("<")


class _HtmlText(HTMLParser):
    """Collects an HTML page's text, leaving out scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(text: str) -> str:
    """The readable text of an HTML page, whitespace collapsed."""
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return " ".join(" ".join(parser.parts).split())
