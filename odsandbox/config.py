"""Configuration of the sandbox: offices, keys, pacing and behaviour switches.

Everything here is plain data; keys and office layouts are derived deterministically from
``SandboxConfig.seed`` so two sandboxes started with the same arguments look identical.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass

DEFAULT_PERMISSIONS: tuple[str, ...] = ("ApiReadAll", "ApiQueries")

#: Every API permission Open Dental documents, in the order /securityperms reports them.
ALL_PERMISSIONS: tuple[str, ...] = (
    "ApiReadAll",
    "ApiAllOthers",
    "ApiComm",
    "ApiDocuments",
    "ApiQueries",
    "ApiAppointments",
    "ApiInsurance",
    "ApiPatients",
    "ApiPayments",
    "ApiPayPlans",
    "ApiProcedureLogs",
    "ApiSetup",
    "ApiTextingASAP",
    "ApiEnterprise",
)

KEY_STATUSES: tuple[str, ...] = (
    "Unknown",
    "Enabled",
    "DisabledByCustomer",
    "DisabledByDeveloper",
    "DisabledByHQ",
    "EnabledReadOnly",
)

MODES: tuple[str, ...] = ("Remote", "Local", "Service")
OVER_LIMIT_CHOICES: tuple[str, ...] = ("429", "delay", "400")

PUBLIC_TEST_DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"
PUBLIC_TEST_CUSTOMER_KEY = "VzkmZEaUWOjnQX2z"
PUBLIC_TEST_OFFICE_NAME = "Open Dental Test Office"
DEV_NAME = "Sandbox Developer"

_OFFICE_NAMES: tuple[str, ...] = (
    "Bright Smiles Dental",
    "Maple Grove Family Dentistry",
    "Riverside Dental Care",
    "Summit Orthodontics",
    "Lakeview Dental Group",
    "Cedar Park Pediatric Dentistry",
    "Harbor Point Dental",
    "Oak Hill Dental Studio",
    "Sunrise Dental Associates",
    "Willow Creek Dentistry",
)

# Clinic counts cycled over the default offices so that small sandboxes always contain both
# clinic-using offices and offices without clinics (0).
_CLINIC_PATTERN: tuple[int, ...] = (3, 0, 2, 4, 0)


@dataclass(frozen=True)
class OfficeSpec:
    """One simulated dental office (one Open Dental database behind one customer key)."""

    name: str
    guarantors: int
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    clinics: int = 0
    key_status: str = "Enabled"
    econnector_down: bool = False
    mode: str = "Remote"


@dataclass
class SandboxConfig:
    """All knobs of one sandbox instance (see the package docstring for the [U] choices)."""

    offices: int = 3
    guarantors_per_office: int = 50
    seed: int = 1
    latency_ms: int = 0
    throttle_scale: float = 1.0
    over_limit: str = "429"
    page_cap: int = 100
    control: bool = False
    office_specs: list[OfficeSpec] | None = None
    data_dir: str | None = None
    request_timeout_s: float = 60.0
    # Additions beyond the contract (all optional, documented in odsandbox/__init__.py).
    strict_content_type: bool = True
    report_latency_ms: int = 250
    zero_balance_fraction: float = 0.25
    test_office_guarantors: int = 20
    max_threads: int = 16
    # API Events (odsandbox/events.py): how often the delivery loop looks for due
    # subscriptions, and the timeout of each webhook POST. Tests use a fast tick.
    events_tick_s: float = 1.0
    events_timeout_s: float = 5.0
    # Seconds before a status set through the Developer Portal reaches customer calls.
    portal_propagation_s: float = 0.0

    def __post_init__(self) -> None:
        if self.over_limit not in OVER_LIMIT_CHOICES:
            raise ValueError(f"over_limit must be one of {OVER_LIMIT_CHOICES}")
        if self.page_cap < 1:
            raise ValueError("page_cap must be positive")


def random_key(rng: random.Random) -> str:
    """A 16-character key of ASCII letters and digits, like Open Dental's."""
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(16))


def seeded_rng(seed: int, *parts: object) -> random.Random:
    """A random generator derived from the seed and a purpose label (stable across runs)."""
    label = ":".join(str(p) for p in (seed, *parts))
    return random.Random(hashlib.sha256(label.encode()).hexdigest())  # noqa: S311 - fake data


def default_office_specs(config: SandboxConfig) -> list[OfficeSpec]:
    """The offices to simulate: ``office_specs`` if given, else ``offices`` generated ones."""
    if config.office_specs is not None:
        return list(config.office_specs)
    specs = []
    for i in range(config.offices):
        base = _OFFICE_NAMES[i % len(_OFFICE_NAMES)]
        name = base if i < len(_OFFICE_NAMES) else f"{base} #{i // len(_OFFICE_NAMES) + 1}"
        clinics = _CLINIC_PATTERN[i % len(_CLINIC_PATTERN)]
        specs.append(
            OfficeSpec(name=name, guarantors=config.guarantors_per_office, clinics=clinics)
        )
    return specs


def test_office_spec(config: SandboxConfig) -> OfficeSpec:
    """The office behind Open Dental's public test key pair."""
    return OfficeSpec(
        name=PUBLIC_TEST_OFFICE_NAME,
        guarantors=config.test_office_guarantors,
        clinics=2,
    )


def key_hash(customer_key: str) -> str:
    """Short non-reversible label for a key, used in stats so keys never appear in output."""
    return hashlib.sha256(customer_key.encode()).hexdigest()[:12]
