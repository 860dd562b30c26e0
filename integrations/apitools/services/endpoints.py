"""The Open Dental endpoints the console offers: the ones the client knows, with the parameters
their documentation pages list (path parameters in braces are required numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

SHORT_QUERY_PATH = "/queries/ShortQuery"
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
PAGED = ("Offset", "Limit")


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # with {Name} path parameters
    doc: str
    params: tuple[str, ...] = ()
    has_body: bool = False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("securityperms", "GET", "/securityperms", "apisecurity.html"),
    Endpoint("preferences", "GET", "/preferences", "apipreferences.html", ("PrefName", *PAGED)),
    Endpoint("clinics", "GET", "/clinics", "apiclinics.html"),
    Endpoint(
        "providers", "GET", "/providers", "apiproviders.html", ("ClinicNum", "DateTStamp", *PAGED)
    ),
    Endpoint(
        "appointments",
        "GET",
        "/appointments",
        "apiappointments.html",
        (
            "date",
            "dateStart",
            "dateEnd",
            "AptStatus",
            "PatNum",
            "Op",
            "ClinicNum",
            "DateTStamp",
            *PAGED,
        ),
    ),  # fmt: skip
    Endpoint("appointment", "GET", "/appointments/{AptNum}", "apiappointments.html"),
    Endpoint("computers", "GET", "/computers", "apicomputers.html"),
    Endpoint("subscriptions", "GET", "/subscriptions", "apisubscriptions.html"),
    Endpoint(
        "patients_simple",
        "GET",
        "/patients/Simple",
        "apipatients.html",
        ("LName", "FName", "Birthdate", "ClinicNum", "PatStatus", "DateTStamp", *PAGED),
    ),  # fmt: skip
    Endpoint("patient", "GET", "/patients/{PatNum}", "apipatients.html"),
    Endpoint("family_aging", "GET", "/accountmodules/{PatNum}/Aging", "apiaccountmodules.html"),
    Endpoint(
        "reports_aging",
        "GET",
        "/reports/Aging",
        "apireports.html",
        ("DateAsOf", "ClinicNum", "Offset"),
    ),  # fmt: skip
    Endpoint("appointment_create", "POST", "/appointments", "apiappointments.html", has_body=True),
    Endpoint(
        "appointment_update",
        "PUT",
        "/appointments/{AptNum}",
        "apiappointments.html",
        has_body=True,
    ),  # fmt: skip
    Endpoint("patient_create", "POST", "/patients", "apipatients.html", has_body=True),
    Endpoint("patient_update", "PUT", "/patients/{PatNum}", "apipatients.html", has_body=True),
)
BY_KEY = {e.key: e for e in ENDPOINTS}
# Any other read: a path the user types (GET only).
FREE_GET = Endpoint("free_get", "GET", "", "any GET page of the API reference")
SHORT_QUERY = Endpoint(
    "short_query", "PUT", SHORT_QUERY_PATH, "apiqueries.html", ("Offset",), has_body=True
)


def endpoint(key: str) -> Endpoint | None:
    """The endpoint of a console choice, or None."""
    if key == FREE_GET.key:
        return FREE_GET
    if key == SHORT_QUERY.key:
        return SHORT_QUERY
    return BY_KEY.get(key)


def endpoint_of(method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
    """The console endpoint a sent request matches, with its path values (FREE_GET if none)."""
    for candidate in (*ENDPOINTS, SHORT_QUERY):
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\d+)", re.escape(candidate.path))
        found = re.fullmatch(pattern, path)
        if candidate.method == method and found:
            return candidate, found.groupdict()
    return FREE_GET, {}
