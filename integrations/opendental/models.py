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
    """One row of GET /providers, or GET /providers/{ProvNum} (SSN is left out on purpose)."""

    prov_num: int
    abbr: str
    l_name: str = ""
    f_name: str = ""
    is_hidden: bool = False
    is_secondary: bool = False
    prov_status: str = ""
    date_t_stamp: datetime | None = None
    # None when absent, "" (with ClinicNum, as the doc's example shows) or 0001-01-01.
    server_date_time: datetime | None = None
    prov_color: tuple[int, int, int] | None = None
    specialty: int | None = None
    fee_sched: int | None = None
    national_prov_id: str = ""
    state_license: str = ""
    is_hidden_report: bool = False
    using_tin: bool = False
    sig_on_file: bool = False
    is_not_person: bool = False
    birthdate: date | None = None
    sched_note: str = ""
    preferred_name: str = ""

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
            server_date_time=f.moment("serverDateTime", None, blank=True),
            prov_color=f.color("provColor", None),
            specialty=f.integer("Specialty", None),
            fee_sched=f.integer("FeeSched", None),
            national_prov_id=f.text("NationalProvID", ""),
            state_license=f.text("StateLicense", ""),
            is_hidden_report=f.flag("IsHiddenReport", False),
            using_tin=f.flag("UsingTIN", False),
            sig_on_file=f.flag("SigOnFile", False),
            is_not_person=f.flag("IsNotPerson", False),
            birthdate=f.day("Birthdate", None),
            sched_note=f.text("SchedNote", ""),
            preferred_name=f.text("PreferredName", ""),
        )


@dataclass(frozen=True, slots=True)
class Appointment:
    """GET /appointments/{AptNum} or a row of GET /appointments (apiappointments.html)."""

    apt_num: int
    pat_num: int
    apt_status: str
    apt_date_time: datetime | None
    pattern: str = ""
    confirmed: int = 0
    confirmed_label: str = ""
    time_locked: bool = False
    op: int = 0
    note: str = ""
    prov_num: int = 0
    prov_abbr: str = ""
    prov_hyg: int = 0
    next_apt_num: int = 0
    unsched_status: int = 0
    is_new_patient: bool = False
    proc_descript: str = ""
    clinic_num: int = 0
    is_hygiene: bool = False
    date_t_stamp: datetime | None = None
    date_time_arrived: datetime | None = None
    date_time_seated: datetime | None = None
    date_time_dismissed: datetime | None = None
    date_time_asked_to_arrive: datetime | None = None
    ins_plan1: int = 0
    ins_plan2: int = 0
    # None for "0,0,0": Open Dental's empty colour, i.e. no override [I].
    color_override: tuple[int, int, int] | None = None
    appointment_type_num: int = 0
    sec_date_t_entry: datetime | None = None
    priority: str = ""
    server_date_time: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> Appointment:
        f = Fields(data, "Appointment")
        color = f.color("colorOverride", None)
        return cls(
            apt_num=f.integer("AptNum"),
            pat_num=f.integer("PatNum"),
            apt_status=f.text("AptStatus"),
            apt_date_time=f.moment("AptDateTime"),
            pattern=f.text("Pattern", ""),
            confirmed=f.integer("Confirmed", 0),
            confirmed_label=f.text("confirmed", ""),
            time_locked=f.flag("TimeLocked", False),
            op=f.integer("Op", 0),
            note=f.text("Note", ""),
            prov_num=f.integer("ProvNum", 0),
            prov_abbr=f.text("provAbbr", ""),
            prov_hyg=f.integer("ProvHyg", 0),
            next_apt_num=f.integer("NextAptNum", 0),
            unsched_status=f.integer("UnschedStatus", 0),
            is_new_patient=f.flag("IsNewPatient", False),
            proc_descript=f.text("ProcDescript", ""),
            clinic_num=f.integer("ClinicNum", 0),
            is_hygiene=f.flag("IsHygiene", False),
            date_t_stamp=f.moment("DateTStamp", None),
            date_time_arrived=f.moment("DateTimeArrived", None),
            date_time_seated=f.moment("DateTimeSeated", None),
            date_time_dismissed=f.moment("DateTimeDismissed", None),
            date_time_asked_to_arrive=f.moment("DateTimeAskedToArrive", None),
            ins_plan1=f.integer("InsPlan1", 0),
            ins_plan2=f.integer("InsPlan2", 0),
            color_override=None if color == (0, 0, 0) else color,
            appointment_type_num=f.integer("AppointmentTypeNum", 0),
            sec_date_t_entry=f.moment("SecDateTEntry", None),
            priority=f.text("Priority", ""),
            server_date_time=f.moment("serverDateTime", None, blank=True),
        )


@dataclass(frozen=True, slots=True)
class Computer:
    """One workstation of GET /computers (apicomputers.html)."""

    computer_num: int
    comp_name: str
    last_heart_beat: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> Computer:
        f = Fields(data, "Computer")
        return cls(
            computer_num=f.integer("ComputerNum"),
            comp_name=f.text("CompName"),
            last_heart_beat=f.moment("LastHeartBeat", None),
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """One API Events subscription (apisubscriptions.html); its key is kept out of repr."""

    subscription_num: int
    end_point_url: str
    workstation: str = ""
    customer_key: str = field(default="", repr=False)
    watch_table: str = ""
    polling_seconds: int = 0
    ui_event_type: str = ""
    date_time_start: datetime | None = None
    date_time_stop: datetime | None = None  # None: 0001-01-01, never stops
    note: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Subscription:
        f = Fields(data, "Subscription")
        return cls(
            subscription_num=f.integer("SubscriptionNum"),
            end_point_url=f.text("EndPointUrl"),
            workstation=f.text("Workstation", ""),
            customer_key=f.text("CustomerKey", ""),
            watch_table=f.text("WatchTable", ""),
            polling_seconds=f.integer("PollingSeconds", 0),
            ui_event_type=f.text("UiEventType", ""),
            date_time_start=f.moment("DateTimeStart", None),
            date_time_stop=f.moment("DateTimeStop", None),
            note=f.text("Note", ""),
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
