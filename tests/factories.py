"""factory_boy factories for the domain models (secrets go through the crypto helpers), and the
few builders that make many rows at once."""

from __future__ import annotations

import secrets
import string
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.accounts.models import (
    ApiResource,
    AuditEvent,
    DeveloperAccount,
    Membership,
    RequestedPermission,
    Role,
)
from integrations.offices.models import (
    OFFICE_AGING_FIELDS,
    AgingRow,
    AgingSnapshot,
    ApiMode,
    Clinic,
    CustomerKey,
    ImportJob,
    JobState,
    Office,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
    SnapshotState,
)
from odportal.lib import crypto

ALNUM = string.ascii_letters + string.digits


def random_key() -> str:
    """A fresh, valid Open Dental style key (16 letters and digits)."""
    return "".join(secrets.choice(ALNUM) for _ in range(16))


# --- accounts --------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class DeveloperAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeveloperAccount

    company_name = factory.Sequence(lambda n: f"Vendor {n} Inc.")
    contact_phone = "+1 555 0100"
    billing_email = factory.Sequence(lambda n: f"billing{n}@vendor.example")
    billing_address = "1 Main St\nSpringfield"
    app_description = "Reads patients."
    dev_name = factory.Sequence(lambda n: f"Vendor {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(DeveloperAccountFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    account = factory.SubFactory(DeveloperAccountFactory)
    actor = None
    action = "office.create"
    object_type = "office"
    object_id = factory.Sequence(lambda n: f"obj-{n}")
    object_repr = factory.Sequence(lambda n: f"Office {n}")
    detail = factory.LazyFunction(dict)


class RequestedPermissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RequestedPermission

    account = factory.SubFactory(DeveloperAccountFactory)
    resource = ApiResource.PATIENTS
    can_read = True


# --- offices ---------------------------------------------------------------------------------


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office

    account = factory.SubFactory(DeveloperAccountFactory)
    name = factory.Sequence(lambda n: f"Office {n}")
    api_mode = ApiMode.REMOTE
    # Remote offices store no URL (they go to OPENDENTAL_REMOTE_BASE_URL); the others their
    # server's, here one where nothing listens.
    base_url = factory.LazyAttribute(
        lambda o: "" if o.api_mode == ApiMode.REMOTE else "http://127.0.0.1:9/api/v1"
    )
    time_zone = "America/Chicago"


class CustomerKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerKey

    class Params:
        plaintext = factory.LazyFunction(random_key)

    office = factory.SubFactory(OfficeFactory)
    key_encrypted = factory.LazyAttribute(lambda o: crypto.encrypt(o.plaintext))
    last4 = factory.LazyAttribute(lambda o: o.plaintext[-4:])
    key_hash = factory.LazyAttribute(lambda o: crypto.key_hash(o.plaintext))


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    office = factory.SubFactory(OfficeFactory)
    clinic_num = factory.Sequence(lambda n: n + 1)
    abbr = factory.Sequence(lambda n: f"C{n}")
    description = factory.Sequence(lambda n: f"Clinic number {n}")


class PollRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PollRun

    office = factory.SubFactory(OfficeFactory)
    kind = PollKind.HEALTH
    outcome = RunOutcome.OK
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class ImportJobFactory(factory.django.DjangoModelFactory):
    """A finished import of an empty CSV (real ones go through the imports service)."""

    class Meta:
        model = ImportJob

    account = factory.SubFactory(DeveloperAccountFactory)
    filename = "offices.csv"
    format = "csv"
    state = JobState.DONE
    finished_at = factory.LazyFunction(timezone.now)


class AgingSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgingSnapshot

    office = factory.SubFactory(OfficeFactory)
    source = SnapshotSource.SHORT_QUERY
    state = SnapshotState.COMPLETE
    as_of = factory.LazyFunction(timezone.localdate)
    completed_at = factory.LazyFunction(timezone.now)


def make_rows(snapshot: AgingSnapshot, n: int, *, clinics=(0,)) -> list[AgingRow]:
    """n guarantor rows with distinct balances; updates the snapshot totals to match."""
    rows = []
    for i in range(1, n + 1):
        b = [Decimal(i), Decimal(i * 2), Decimal(i * 3), Decimal(i * 4)]
        rows.append(
            AgingRow(
                snapshot=snapshot,
                pat_num=1000 + i,
                clinic_num=clinics[i % len(clinics)],
                name=f"Guarantor {i:05d}",
                bal_0_30=b[0],
                bal_31_60=b[1],
                bal_61_90=b[2],
                bal_over_90=b[3],
                ins_est=Decimal("0.50"),
                est_balance=sum(b),
                bal_total=sum(b),
            )
        )
    AgingRow.objects.bulk_create(rows, batch_size=5000)
    for field in ("bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "ins_est", "bal_total"):
        setattr(snapshot, field, sum(getattr(r, field) for r in rows))
    snapshot.guarantor_count = n
    snapshot.save()
    return rows


def make_current(office: Office, snapshot: AgingSnapshot) -> None:
    """Point the office at a snapshot, with the denormalised totals the list sorts on."""
    office.current_snapshot = snapshot
    for field, bucket in OFFICE_AGING_FIELDS.items():
        setattr(office, field, getattr(snapshot, bucket))
    office.save()


def bulk_offices(account: DeveloperAccount, n: int, **fields) -> list[Office]:
    """n offices created in one statement (for query-count and pagination tests)."""
    return Office.objects.bulk_create(
        [Office(account=account, name=f"Bulk office {i:05d}", **fields) for i in range(n)]
    )
