"""Seed data for ``manage.py demo``: a demo login and an account with Open Dental's test keys."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.accounts import (
    developer_account_create,
    developer_account_update,
    requested_permissions_set,
)
from integrations.alerts.models import Channel, ChannelKind
from integrations.alerts.services.channels import channel_create
from integrations.alerts.services.policy import alert_settings_set
from integrations.offices.models import Office, PollKind
from integrations.offices.services.imports import offices_import
from integrations.offices.services.keys import customer_key_add
from integrations.offices.services.offices import office_create
from integrations.offices.services.polling import dispatch
from integrations.offices.services.polling.sweep import offices_pollable
from odportal.lib import crypto

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - demo mode only; the command refuses to run with DEBUG off
DEMO_COMPANY = "Demo Dental Software"
# Open Dental's published test credentials (apisetup.html); not secrets.
PUBLIC_DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"
PUBLIC_CUSTOMER_KEY = "VzkmZEaUWOjnQX2z"  # noqa: S105
PUBLIC_TEST_OFFICE = "Open Dental Test Office"
SANDBOX_COMPANY = "Sandbox Dental Group"
DEMO_PERMISSIONS = ("Patients", "AccountModules", "Reports", "Queries", "Clinics", "Preferences",
                    "Providers", "SecurityPerms")  # fmt: skip


def demo_office_specs():
    """Offices of different sizes and faults, so the demo shows every kind of status."""
    from odsandbox.config import OfficeSpec

    return [
        OfficeSpec(name="Bright Smiles Dental", guarantors=800, clinics=3),
        OfficeSpec(
            name="Maple Grove Family Dentistry", guarantors=150, permissions=("ApiReadAll",)
        ),
        OfficeSpec(name="Riverside Dental Care", guarantors=300, econnector_down=True),
        OfficeSpec(name="Summit Orthodontics", guarantors=120, key_status="DisabledByCustomer"),
        OfficeSpec(name="Lakeview Dental Group", guarantors=2500, clinics=2),
    ]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def demo_sandbox(*, port: int) -> Iterator:
    """The Open Dental sandbox for the demo, on ``port`` if free (else any free port)."""
    from odsandbox.config import SandboxConfig
    from odsandbox.testing import running_sandbox

    config = SandboxConfig(
        office_specs=demo_office_specs(),
        seed=2026,
        throttle_scale=settings.OPENDENTAL_THROTTLE_SCALE,
        data_dir=str(Path(settings.VAR_DIR) / "sandbox"),
        # Its control API (/_sandbox/...: faults, manifest, key assignment) for a person trying
        # the demo; the sandbox listens on loopback only, so nothing else can reach it.
        control=True,
    )
    with running_sandbox(config, port=port if _port_free(port) else 0) as sandbox:
        yield sandbox


CLOSED_OFFICE = "Old Town Dental (closed)"


def demo_portal_seed(state) -> str:
    """At the sandbox's Developer Portal: one key nobody tracks (enabled and assigned, so
    billed) and one disabled there that odportal still tracks (a closed location's); returns
    the latter. Deterministic: the sandbox's new keys follow its seed."""
    first, last = state.offices[0].customer_key, state.offices[-1].customer_key
    stray = state.create_key(dev_ref_id="reseller-2019")
    state.assign_key(stray.customer_key, first)
    closed = state.create_key(dev_ref_id="old-town")
    state.assign_key(closed.customer_key, last)
    state.set_key_status(closed.customer_key, "DisabledByDeveloper")
    return closed.customer_key


@transaction.atomic
def demo_closed_office_ensure(*, user: AbstractBaseUser, customer_key: str) -> None:
    """The closed location in the sandbox account, its key the one disabled at Open Dental."""
    account = DeveloperAccount.objects.get(company_name=SANDBOX_COMPANY, membership__user=user)
    if Office.objects.filter(account=account, name=CLOSED_OFFICE).exists():
        return
    office = office_create(account=account, actor=user, name=CLOSED_OFFICE, time_zone="UTC")
    customer_key_add(office=office, key=customer_key, actor=user)


def demo_user_ensure() -> AbstractBaseUser:
    """Create (or reset the password of) the demo login."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME)
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


@transaction.atomic
def demo_account_ensure(*, user: AbstractBaseUser) -> DeveloperAccount:
    """The demo account with the public test office (a Remote office: it goes to
    OPENDENTAL_REMOTE_BASE_URL, the sandbox's in the demo); idempotent."""
    account = DeveloperAccount.objects.filter(
        company_name=DEMO_COMPANY, membership__user=user
    ).first()
    if account is None:
        account = developer_account_create(
            actor=user,
            developer_key=PUBLIC_DEVELOPER_KEY,
            company_name=DEMO_COMPANY,
            contact_phone="+1 503 555 0100",
            billing_email="billing@demo-dental.example",
            billing_address="1 Demo Way\nSalem, OR 97301",
            app_description="Demo integration that reads patients and A/R aging.",
            dev_name="Demo Dental Software",
        )
        requested_permissions_set(
            account=account,
            actor=user,
            matrix={
                r: {"read": True}
                for r in (
                    "Patients",
                    "AccountModules",
                    "Reports",
                    "Queries",
                    "Clinics",
                    "Preferences",
                    "Providers",
                    "SecurityPerms",
                )
            },
        )
    office = Office.objects.filter(account=account, name=PUBLIC_TEST_OFFICE).first()
    if office is None:
        office = office_create(
            account=account,
            actor=user,
            name=PUBLIC_TEST_OFFICE,
            reference="od-test",
            time_zone="America/Los_Angeles",
        )
        customer_key_add(office=office, key=PUBLIC_CUSTOMER_KEY, actor=user)
    return account


@transaction.atomic
def demo_sandbox_account_ensure(*, user: AbstractBaseUser, manifest: dict) -> str:
    """The account holding the sandbox's offices (imported from its manifest); idempotent."""
    account = DeveloperAccount.objects.filter(
        company_name=SANDBOX_COMPANY, membership__user=user
    ).first()
    if account is None:
        account = developer_account_create(
            actor=user,
            developer_key=manifest["developer_key"],
            portal_key=manifest["developer_portal_key"],
            company_name=SANDBOX_COMPANY,
            contact_phone="+1 503 555 0142",
            billing_email="ap@sandbox-dental.example",
            billing_address="200 Sandbox Ave\nPortland, OR 97201",
            app_description="Monitors offices and pulls A/R aging for collections.",
            dev_name=manifest["dev_name"],
        )
        requested_permissions_set(
            account=account, actor=user, matrix={r: {"read": True} for r in DEMO_PERMISSIONS}
        )
    else:
        developer_account_update(
            account=account, actor=user, developer_key=manifest["developer_key"]
        )
    source = json.dumps(manifest)
    # Its offices are Remote: they follow the sandbox (to another port, too) through
    # OPENDENTAL_REMOTE_BASE_URL, which the demo command sets.
    result = offices_import(account=account, actor=user, source=source, filename="manifest.json")
    return result.summary


DEMO_EMAIL = "demo@demo-dental.example"
DEMO_CHANNEL_EMAIL = "Demo mailbox (var/mail)"
DEMO_CHANNEL_WEBHOOK = "Demo webhook receiver (var/webhooks)"
# Often enough that an injected fault is an incident and a message within two minutes:
# one failed poll (grace 1) a minute apart, evaluated after each 20 s sweep.
DEMO_HEALTH_INTERVAL_S = 60


@transaction.atomic
def demo_alerts_ensure(*, user: AbstractBaseUser, webhook_url: str) -> list[str]:
    """Alert channels of every demo account: email to the demo login and a webhook to the
    demo's receiver (its port changes between runs); returns the webhooks' signing secrets."""
    if user.email != DEMO_EMAIL:
        user.email = DEMO_EMAIL
        user.save(update_fields=["email"])
    secrets = []
    for account in DeveloperAccount.objects.filter(membership__user=user):
        Office.objects.filter(account=account).update(health_interval_s=DEMO_HEALTH_INTERVAL_S)
        alert_settings_set(account=account, actor=user, grace_polls=1)
        if not Channel.objects.filter(account=account, name=DEMO_CHANNEL_EMAIL).exists():
            channel_create(account=account, actor=user, kind=ChannelKind.EMAIL,
                           name=DEMO_CHANNEL_EMAIL, target="")  # fmt: skip
        hook = Channel.objects.filter(account=account, name=DEMO_CHANNEL_WEBHOOK).first()
        if hook is None:
            hook, _ = channel_create(account=account, actor=user, kind=ChannelKind.WEBHOOK,
                                     name=DEMO_CHANNEL_WEBHOOK, target=webhook_url)  # fmt: skip
        else:
            Channel.objects.filter(pk=hook.pk).update(target=webhook_url)
        secrets.append(crypto.decrypt(hook.secret_encrypted))
    return secrets


def demo_poll_all() -> dict[str, int]:
    """Queue a health poll of every pollable office now (beat's sweep then refreshes aging)."""
    counts = {"queued": 0, "already": 0}
    for office in offices_pollable().distinct():
        try:
            _, created = dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
        except dispatch.WorkersUnavailable:
            break
        counts["queued" if created else "already"] += 1
    return counts


def demo_ready() -> bool:
    """Every pollable office polled, and at least one OK with a current aging snapshot."""
    from integrations.offices.models import OfficeStatus

    pending = Office.objects.filter(status=OfficeStatus.NEVER_POLLED).exists()
    has_aging = Office.objects.filter(status=OfficeStatus.OK, current_snapshot__isnull=False)
    return not pending and has_aging.exists()


def demo_status_lines() -> list[str]:
    """One line per office: status and current aging."""
    lines = []
    for office in Office.objects.select_related("current_snapshot").order_by("name"):
        snap = office.current_snapshot
        aging = f"aging {snap.guarantor_count} guarantors, {snap.bal_total}" if snap else "no aging"
        lines.append(f"{office.name}: {office.get_status_display()} · {aging}")
    return lines
