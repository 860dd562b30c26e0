"""In-memory state of a running sandbox: keys, offices, faults, throttle and counters.

``SandboxState`` is also the Python control surface for tests (``running_sandbox(...).state``):
every control endpoint is a thin wrapper around one of its methods.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from odsandbox.config import (
    DEV_NAME,
    KEY_STATUSES,
    PUBLIC_TEST_CUSTOMER_KEY,
    PUBLIC_TEST_DEVELOPER_KEY,
    OfficeSpec,
    SandboxConfig,
    default_office_specs,
    key_hash,
    random_key,
    seeded_rng,
    test_office_spec,
)
from odsandbox.data import BuildParams
from odsandbox.faults import Faults
from odsandbox.store import OfficeStore
from odsandbox.throttle import Throttle, base_interval


class AuthError(Exception):
    """Authentication failed; the message is the 401 body."""


@dataclass
class Office:
    """One simulated office and its mutable runtime state."""

    index: int
    spec: OfficeSpec
    customer_key: str
    store: OfficeStore
    permissions: tuple[str, ...]
    faults: Faults = field(default_factory=Faults)

    @property
    def clinic_nums(self) -> list[int]:
        """ClinicNums the office uses ([] when it does not use clinics)."""
        return list(range(1, self.spec.clinics + 1))

    @property
    def is_remote(self) -> bool:
        """Remote offices go through HQ and the eConnector; Local/Service ones do not."""
        return self.spec.mode == "Remote"

    def page_cap(self, base_cap: int) -> int:
        """Rows per page: base cap remotely, 10x in Local/Service mode, 10x more with Enterprise."""
        cap = base_cap if self.is_remote else base_cap * 10
        return cap * 10 if "ApiEnterprise" in self.permissions else cap


ENABLED_STATUSES = ("Enabled", "EnabledReadOnly")


@dataclass
class PortalFaults(Faults):
    """Faults of the Developer Portal (/apikeys): ``status_500``, ``timeout`` (504 after the
    request time limit, or at once with ``timeout_immediate``), ``latency_ms``, ``times``, and
    ``reject_portal_key`` (401 as for a reset portal key)."""

    reject_portal_key: bool = False


@dataclass
class KeyRecord:
    """A customer key as HQ knows it."""

    customer_key: str
    developer_key: str
    status: str
    office: Office | None
    date_created: date
    date_disabled: date | None = None
    datetime_assigned: datetime | None = None
    dev_ref_id: str = ""
    # What the API gateway still enforces until a portal change propagates: (status, until).
    enforced: tuple[str, float] | None = None

    def gateway_status(self, now: float | None = None) -> str:
        """The status customer calls see: the previous one until a portal change propagates."""
        if self.enforced is not None:
            status, until = self.enforced
            if (now if now is not None else time.monotonic()) < until:
                return status
            self.enforced = None
        return self.status

    def portal_json(self) -> dict[str, str]:
        """The Developer Portal's representation of the key."""
        assigned = self.datetime_assigned
        return {
            "CustomerKey": self.customer_key,
            "KeyStatus": self.status,
            "DevRefId": self.dev_ref_id,
            "DateCreated": self.date_created.isoformat(),
            "DateDisabled": self.date_disabled.isoformat() if self.date_disabled else "0001-01-01",
            "DateTimeAssigned": assigned.strftime("%Y-%m-%d %H:%M:%S")
            if assigned
            else "0001-01-01 00:00:00",
        }


VIOLATIONS_KEPT = 200


@dataclass
class KeyStats:
    """Request and throttle-violation counts for one key."""

    requests: int = 0
    violations: int = 0
    last_arrival: float | None = None  # the last admitted request's, for the violation trace
    last_path: str = ""
    last_connection: tuple[int | None, int | None] = (None, None)  # (client port, nth request)


class SandboxState:
    """Everything a sandbox instance knows; mutated only from the event loop or tests."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._own_dir = config.data_dir is None
        self.data_dir = config.data_dir or tempfile.mkdtemp(prefix="odsandbox-")
        os.makedirs(self.data_dir, exist_ok=True)
        key_rng = seeded_rng(config.seed, "developer")
        self.developer_key = random_key(key_rng)
        self.developer_portal_key = random_key(key_rng)
        self._new_key_rng = seeded_rng(config.seed, "portal-new-keys")
        self.throttle = Throttle()
        self.key_stats: dict[str, KeyStats] = {}
        # The latest violations, each with the request before it on the same key: whether a
        # client bypassed its pacing (gap near 0, a second caller) or only lost a few ms to
        # jitter (gap just under the interval) is what tells a bug from a busy machine.
        self.recent_violations: deque[dict[str, Any]] = deque(maxlen=VIOLATIONS_KEPT)
        self.total_requests = 0
        self.keys: dict[str, KeyRecord] = {}
        self.portal_faults = PortalFaults()
        self.portal_requests: dict[str, int] = {"GET": 0, "POST": 0, "PUT": 0}
        self.offices: list[Office] = []
        for index, spec in enumerate(default_office_specs(config)):
            key = random_key(seeded_rng(config.seed, "customer", index))
            self._add_office(index, spec, key, self.developer_key)
        self.test_office = self._add_office(
            len(self.offices),
            test_office_spec(config),
            PUBLIC_TEST_CUSTOMER_KEY,
            PUBLIC_TEST_DEVELOPER_KEY,
        )
        self.offices.pop()  # the test office is kept apart from the configured offices

    def _add_office(self, index: int, spec: OfficeSpec, key: str, dev_key: str) -> Office:
        """Register an office and its customer key (database generated lazily)."""
        params = BuildParams(
            spec=spec,
            rng_label=f"{self.config.seed}:office:{index}:{spec.name}",
            customer_keys=(key,),
            today=date.today(),
            zero_balance_fraction=self.config.zero_balance_fraction,
        )
        path = os.path.join(self.data_dir, f"office-{index:04d}-{key_hash(key)}.sqlite")
        office = Office(index, spec, key, OfficeStore(path, params), tuple(spec.permissions))
        office.faults.econnector_down = spec.econnector_down
        created = date.today()
        assigned = datetime.combine(created, datetime.min.time())
        self.keys[key] = KeyRecord(
            key, dev_key, spec.key_status, office, created, datetime_assigned=assigned
        )
        self.offices.append(office)
        return office

    # --- authentication -------------------------------------------------------------------

    def authenticate(self, developer_key: str, customer_key: str) -> KeyRecord:
        """The key record for a valid, enabled, assigned pair; AuthError (401 text) otherwise."""
        if developer_key not in (self.developer_key, PUBLIC_TEST_DEVELOPER_KEY):
            raise AuthError("Invalid developer key.")
        record = self.keys.get(customer_key)
        valid_devs = {record.developer_key, self.developer_key} if record else set()
        if record is None or developer_key not in valid_devs:
            raise AuthError("Invalid customer key.")
        if record.office is None:
            raise AuthError("Customer key is not assigned to an office.")
        status = record.gateway_status()
        if status not in ENABLED_STATUSES:
            raise AuthError(f"Customer key is disabled ({status}).")
        return record

    def check_portal(self, developer_key: str, portal_key: str) -> None:
        """Validate Developer Portal credentials; AuthError otherwise."""
        if developer_key != self.developer_key:
            raise AuthError("Invalid developer key.")
        if portal_key != self.developer_portal_key or self.portal_faults.reject_portal_key:
            raise AuthError("Invalid developer portal key.")

    def interval_for(self, record: KeyRecord) -> float:
        """Start-to-start spacing for the key in seconds (0 = unthrottled)."""
        office = record.office
        if office is None or not office.is_remote:
            return 0.0
        return base_interval(office.permissions) * self.config.throttle_scale

    # --- counters -------------------------------------------------------------------------

    def record_request(
        self,
        customer_key: str | None,
        violation: bool,
        *,
        arrived: float | None = None,
        path: str = "",
        interval: float = 0.0,
        connection: tuple[int | None, int | None] = (None, None),
    ) -> None:
        """Count one API request (and whether it broke the pacing rule); with ``arrived``, a
        violation is traced against the key's previous admitted request. ``connection``
        (client port, which request of that connection) tells in the trace whether the two
        came on one connection and whether either opened its connection (a client's pool may
        share a connection between offices, so neither answer names the client)."""
        self.total_requests += 1
        if customer_key is None:
            return
        hashed = key_hash(customer_key)
        stats = self.key_stats.setdefault(hashed, KeyStats())
        stats.requests += 1
        stats.violations += int(violation)
        if arrived is None:
            return
        if violation and stats.last_arrival is not None:
            self.recent_violations.append(
                {
                    "key": hashed,
                    "path": path,
                    "previous_path": stats.last_path,
                    "gap_ms": round((arrived - stats.last_arrival) * 1000, 1),
                    "interval_ms": round(interval * 1000, 1),
                    "same_connection": connection[0] == stats.last_connection[0] is not None,
                    "nth_on_connection": connection[1],
                    "previous_nth_on_connection": stats.last_connection[1],
                }
            )
        elif not violation:
            stats.last_arrival, stats.last_path = arrived, path
            stats.last_connection = connection

    def stats(self) -> dict[str, Any]:
        """Counters as served by GET /_sandbox/stats."""
        per_key = {
            k: {"requests": s.requests, "violations": s.violations}
            for k, s in self.key_stats.items()
        }
        return {
            "requests": self.total_requests,
            "throttle_violations": sum(s.violations for s in self.key_stats.values()),
            "per_key": per_key,
            "recent_violations": list(self.recent_violations),
            "portal_requests": dict(self.portal_requests),
        }

    def reset_stats(self) -> None:
        """Zero all counters and forget throttle history."""
        self.total_requests = 0
        self.portal_requests = dict.fromkeys(self.portal_requests, 0)
        self.key_stats.clear()
        self.recent_violations.clear()
        self.throttle.reset()

    # --- control --------------------------------------------------------------------------

    def office_for(self, customer_key: str) -> Office:
        """The office behind a customer key; KeyError if unknown or unassigned."""
        record = self.keys.get(customer_key)
        if record is None or record.office is None:
            raise KeyError(customer_key)
        return record.office

    def set_faults(self, customer_key: str, **changes: Any) -> dict[str, Any]:
        """Change faults of the key's office (see faults.Faults); ``key_status`` sets the key."""
        office = self.office_for(customer_key)
        office.faults.update(changes)
        if "key_status" in changes:
            self.set_key_status(customer_key, changes["key_status"])
        elif changes.get("reset"):
            self.set_key_status(customer_key, "Enabled")
        return self.fault_status(customer_key)

    def reset_faults(self, customer_key: str) -> dict[str, Any]:
        """Clear every fault of the key's office and re-enable the key."""
        return self.set_faults(customer_key, reset=True)

    def fault_status(self, customer_key: str) -> dict[str, Any]:
        """Current faults and key status."""
        office = self.office_for(customer_key)
        return {**office.faults.as_dict(), "key_status": self.keys[customer_key].status}

    def set_key_status(self, customer_key: str, status: str, delay_s: float = 0.0) -> KeyRecord:
        """Set a key's status; customer calls see it after ``delay_s`` (0: the next request)."""
        if status not in KEY_STATUSES:
            raise ValueError(f"KeyStatus must be one of {', '.join(KEY_STATUSES)}")
        record = self.keys[customer_key]
        previous = record.gateway_status()
        record.status = status
        record.enforced = (previous, time.monotonic() + delay_s) if delay_s > 0 else None
        enabled = status in ENABLED_STATUSES
        record.date_disabled = None if enabled else date.today()
        return record

    def portal_update(
        self, customer_key: str, status: str | None, dev_ref_id: str | None
    ) -> KeyRecord:
        """Developer Portal PUT: status and/or DevRefId; a status change reaches customer calls
        after ``config.portal_propagation_s``."""
        record = self.keys[customer_key]
        if dev_ref_id is not None:
            record.dev_ref_id = dev_ref_id
        if status is not None and status != record.status:
            self.set_key_status(customer_key, status, self.config.portal_propagation_s)
        return record

    def set_portal_faults(self, **changes: Any) -> dict[str, Any]:
        """Change the Developer Portal's faults (see PortalFaults); ``reset`` clears them."""
        self.portal_faults.update(changes)
        return self.portal_faults.as_dict()

    def set_permissions(self, customer_key: str, permissions: tuple[str, ...]) -> None:
        """Change the permissions HQ reports for the key's office."""
        self.office_for(customer_key).permissions = tuple(permissions)

    def create_key(self, dev_ref_id: str = "") -> KeyRecord:
        """A new, unassigned key for our developer (Developer Portal POST /apikeys)."""
        key = random_key(self._new_key_rng)
        record = KeyRecord(
            key, self.developer_key, "Enabled", None, date.today(), dev_ref_id=dev_ref_id
        )
        self.keys[key] = record
        return record

    def assign_key(self, customer_key: str, office_key: str) -> KeyRecord:
        """Simulate an office pasting ``customer_key`` into its API setup window."""
        office = self.office_for(office_key)
        record = self.keys[customer_key]
        record.office = office
        record.datetime_assigned = datetime.now().replace(microsecond=0)
        office.store.write(
            "INSERT INTO apikey (CustApiKey, DevName) VALUES (?, ?)", (customer_key, DEV_NAME)
        )
        return record

    def developer_keys(self) -> list[KeyRecord]:
        """Keys our developer created (what GET /apikeys lists), in creation order."""
        return [r for r in self.keys.values() if r.developer_key == self.developer_key]

    def aging_totals(self, customer_key: str) -> dict[str, Any]:
        """Dashboard-comparable aging sums computed directly from the office's SQLite file."""
        return self.office_for(customer_key).store.aging_totals()

    # --- manifest -------------------------------------------------------------------------

    def manifest(self, base_url: str) -> dict[str, Any]:
        """Keys and offices for clients and benchmarks (see CONTRACT)."""
        return {
            "base_url": base_url,
            "developer_key": self.developer_key,
            "developer_portal_key": self.developer_portal_key,
            "dev_name": DEV_NAME,
            "offices": [self._office_manifest(o) for o in self.offices],
            "test_office": self._office_manifest(self.test_office),
        }

    def _office_manifest(self, office: Office) -> dict[str, Any]:
        """One office's manifest entry."""
        return {
            "name": office.spec.name,
            "customer_key": office.customer_key,
            "permissions": list(office.permissions),
            "clinic_nums": office.clinic_nums,
            "guarantors": office.spec.guarantors,
            "key_status": self.keys[office.customer_key].status,
            "econnector_down": office.faults.econnector_down,
            "mode": office.spec.mode,
        }

    def close(self) -> None:
        """Remove the data directory if the sandbox created it."""
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
