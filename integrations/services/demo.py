"""Seed data for ``manage.py demo``: a demo login and an account with Open Dental's test keys."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from integrations.models import DeveloperAccount, Office
from integrations.services.accounts import developer_account_create, requested_permissions_set
from integrations.services.keys import customer_key_add
from integrations.services.offices import office_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - demo mode only; the command refuses to run with DEBUG off
DEMO_COMPANY = "Demo Dental Software"
# Open Dental's published test credentials (apisetup.html); not secrets.
PUBLIC_DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"
PUBLIC_CUSTOMER_KEY = "VzkmZEaUWOjnQX2z"  # noqa: S105
PUBLIC_TEST_OFFICE = "Open Dental Test Office"


def demo_user_ensure() -> AbstractBaseUser:
    """Create (or reset the password of) the demo login."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME)
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


@transaction.atomic
def demo_account_ensure(*, user: AbstractBaseUser, base_url: str) -> DeveloperAccount:
    """The demo account with the public test office; idempotent."""
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
            base_url=base_url,
            reference="od-test",
            time_zone="America/Los_Angeles",
        )
        customer_key_add(office=office, key=PUBLIC_CUSTOMER_KEY, actor=user)
    elif office.base_url != base_url:
        office.base_url = base_url
        office.save(update_fields=["base_url"])
    return account
