"""Open Dental REST API client: typed, strict, paced per customer key. No Django imports.

Usage::

    client = OpenDentalClient(base_url, developer_key, customer_key,
                              http_client=shared_http_client(), pacer=pacer_from_url(url))
    perms = client.granted_permissions()     # also sets the pacing interval for this key
    for page in client.short_query_pages(sql):  # read-only SQL, 100 rows a page
        ...
"""

from .client import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    PAGE_SIZE_LOCAL,
    PAGE_SIZE_REMOTE,
    REMOTE_BASE_URL,
    DeveloperPortalClient,
    OpenDentalClient,
    shared_http_client,
)
from .errors import (
    BadRequest,
    BadResponse,
    EConnectorDown,
    Gone,
    KeyRejected,
    NotFound,
    OpenDentalError,
    PaceDeferred,
    PermissionMissing,
    QueryError,
    QueryNotReadOnly,
    ServerError,
    ServerTimeout,
    Throttled,
    Timeout,
    Unreachable,
    classify,
    looks_like_html,
)
from .models import (
    AgingReportRow,
    ApiKey,
    Clinic,
    FamilyAging,
    Patient,
    Preference,
    Provider,
    SecurityPerm,
)
from .pacer import (
    LocalPacer,
    NullPacer,
    Pacer,
    RedisPacer,
    default_pacer,
    pacer_from_url,
    pacer_key_id,
    throttle_interval_s,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "PAGE_SIZE_LOCAL",
    "PAGE_SIZE_REMOTE",
    "REMOTE_BASE_URL",
    "AgingReportRow",
    "ApiKey",
    "BadRequest",
    "BadResponse",
    "Clinic",
    "DeveloperPortalClient",
    "EConnectorDown",
    "FamilyAging",
    "Gone",
    "KeyRejected",
    "LocalPacer",
    "NotFound",
    "NullPacer",
    "OpenDentalClient",
    "OpenDentalError",
    "PaceDeferred",
    "Pacer",
    "Patient",
    "PermissionMissing",
    "Preference",
    "Provider",
    "QueryError",
    "QueryNotReadOnly",
    "RedisPacer",
    "SecurityPerm",
    "ServerError",
    "ServerTimeout",
    "Throttled",
    "Timeout",
    "Unreachable",
    "classify",
    "looks_like_html",
    "default_pacer",
    "pacer_from_url",
    "pacer_key_id",
    "shared_http_client",
    "throttle_interval_s",
]
