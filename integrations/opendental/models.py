"""Typed, immutable results of Open Dental API calls, each with a strict `from_json`.

Field names are snake_case versions of Open Dental's PascalCase columns. Required fields missing
or of the wrong type raise BadResponse; optional ones (newer office versions only, or derived
lower-camel extras) default to None/"".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .parsing import Fields


@dataclass(frozen=True, slots=True)
class SecurityPerm:
    """One row of GET /securityperms."""

    permission: str
    has_permission: bool

    @classmethod
    def from_json(cls, data: Any) -> SecurityPerm:
        f = Fields(data, "SecurityPerm")
        return cls(permission=f.text("Permission"), has_permission=f.flag("HasPermission"))


@dataclass(frozen=True, slots=True)
class Preference:
    """One row of GET /preferences."""

    pref_num: int | None
    pref_name: str
    value_string: str

    @classmethod
    def from_json(cls, data: Any) -> Preference:
        f = Fields(data, "Preference")
        return cls(
            pref_num=f.integer("PrefNum", None),
            pref_name=f.text("PrefName"),
            value_string=f.text("ValueString"),
        )


@dataclass(frozen=True, slots=True)
class Clinic:
    """One row of GET /clinics (only non-hidden clinics are listed)."""

    clinic_num: int
    description: str
    abbr: str = ""
    is_hidden: bool = False

    @classmethod
    def from_json(cls, data: Any) -> Clinic:
        f = Fields(data, "Clinic")
        return cls(
            clinic_num=f.integer("ClinicNum"),
            description=f.text("Description"),
            abbr=f.text("Abbr", ""),
            is_hidden=f.flag("IsHidden", False),
        )


@dataclass(frozen=True, slots=True)
class Provider:
    """One row of GET /providers."""

    prov_num: int
    abbr: str
    l_name: str = ""
    f_name: str = ""
    is_hidden: bool = False
    is_secondary: bool = False
    prov_status: str = ""
    date_t_stamp: datetime | None = None
    server_date_time: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> Provider:
        f = Fields(data, "Provider")
        return cls(
            prov_num=f.integer("ProvNum"),
            abbr=f.text("Abbr"),
            l_name=f.text("LName", ""),
            f_name=f.text("FName", ""),
            is_hidden=f.flag("IsHidden", False),
            is_secondary=f.flag("IsSecondary", False),
            prov_status=f.text("ProvStatus", ""),
            date_t_stamp=f.moment("DateTStamp", None),
            server_date_time=f.moment("serverDateTime", None),
        )


@dataclass(frozen=True, slots=True)
class Patient:
    """A patient from GET /patients/{PatNum} or a row of GET /patients/Simple."""

    pat_num: int
    l_name: str
    f_name: str
    pat_status: str
    guarantor: int
    clinic_num: int
    est_balance: Decimal
    bal_total: Decimal
    middle_i: str = ""
    preferred: str = ""
    gender: str = ""
    birthdate: date | None = None
    email: str = ""
    wireless_phone: str = ""
    pri_prov: int | None = None
    date_first_visit: date | None = None
    date_t_stamp: datetime | None = None
    server_date_time: datetime | None = None

    @property
    def is_guarantor(self) -> bool:
        return self.pat_num == self.guarantor

    @classmethod
    def from_json(cls, data: Any) -> Patient:
        f = Fields(data, "Patient")
        return cls(
            pat_num=f.integer("PatNum"),
            l_name=f.text("LName"),
            f_name=f.text("FName"),
            pat_status=f.text("PatStatus"),
            guarantor=f.integer("Guarantor"),
            clinic_num=f.integer("ClinicNum"),
            est_balance=f.money("EstBalance"),
            bal_total=f.money("BalTotal"),
            middle_i=f.text("MiddleI", ""),
            preferred=f.text("Preferred", ""),
            gender=f.text("Gender", ""),
            birthdate=f.day("Birthdate", None),
            email=f.text("Email", ""),
            wireless_phone=f.text("WirelessPhone", ""),
            pri_prov=f.integer("PriProv", None),
            date_first_visit=f.day("DateFirstVisit", None),
            date_t_stamp=f.moment("DateTStamp", None),
            server_date_time=f.moment("serverDateTime", None),
        )


@dataclass(frozen=True, slots=True)
class FamilyAging:
    """GET /accountmodules/{PatNum}/Aging: the family's aging as in the Account module."""

    bal_0_30: Decimal
    bal_31_60: Decimal
    bal_61_90: Decimal
    bal_over_90: Decimal
    total: Decimal
    ins_est: Decimal
    est_bal: Decimal
    pat_est_bal: Decimal
    unearned: Decimal

    @classmethod
    def from_json(cls, data: Any) -> FamilyAging:
        f = Fields(data, "FamilyAging")
        return cls(
            bal_0_30=f.money("Bal_0_30"),
            bal_31_60=f.money("Bal_31_60"),
            bal_61_90=f.money("Bal_61_90"),
            bal_over_90=f.money("BalOver90"),
            total=f.money("Total"),
            ins_est=f.money("InsEst"),
            est_bal=f.money("EstBal"),
            pat_est_bal=f.money("PatEstBal"),
            unearned=f.money("Unearned"),
        )


@dataclass(frozen=True, slots=True)
class AgingReportRow:
    """One guarantor row of GET /reports/Aging."""

    pat_num: int
    pat_name: str
    bal_0_30: Decimal
    bal_31_60: Decimal
    bal_61_90: Decimal
    bal_over_90: Decimal
    bal_total: Decimal
    ins_wo_est: Decimal
    ins_pay_est: Decimal
    patient_portion: Decimal

    @classmethod
    def from_json(cls, data: Any) -> AgingReportRow:
        f = Fields(data, "AgingReportRow")
        return cls(
            pat_num=f.integer("PatNum"),
            pat_name=f.text("patName"),
            bal_0_30=f.money("Bal_0_30"),
            bal_31_60=f.money("Bal_31_60"),
            bal_61_90=f.money("Bal_61_90"),
            bal_over_90=f.money("BalOver90"),
            bal_total=f.money("BalTotal"),
            ins_wo_est=f.money("InsWoEst"),
            ins_pay_est=f.money("InsPayEst"),
            patient_portion=f.money("PatientPortion"),
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One customer key as the Developer Portal lists it (the key itself is kept out of repr)."""

    customer_key: str = field(repr=False)
    key_status: str
    date_created: date | None
    date_disabled: date | None
    date_time_assigned: datetime | None
    # The developer's own reference for the key (newer portal page; "" where not reported).
    dev_ref_id: str = ""

    @property
    def last4(self) -> str:
        return self.customer_key[-4:]

    @property
    def is_assigned(self) -> bool:
        """An office has pasted the key (HQ links it to that office)."""
        return self.date_time_assigned is not None

    @classmethod
    def from_json(cls, data: Any) -> ApiKey:
        f = Fields(data, "ApiKey")
        return cls(
            customer_key=f.text("CustomerKey"),
            key_status=f.text("KeyStatus"),
            date_created=f.day("DateCreated", None),
            date_disabled=f.day("DateDisabled", None),
            date_time_assigned=f.moment("DateTimeAssigned", None),
            dev_ref_id=f.text("DevRefId", ""),
        )
