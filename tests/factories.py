"""factory_boy factories for the domain models (secrets go through the crypto helpers)."""

from __future__ import annotations

import secrets
import string

import factory
from django.contrib.auth import get_user_model

from integrations.accounts.models import DeveloperAccount, Membership, Role
from integrations.offices.models import CustomerKey, Office
from odportal.lib import crypto

ALNUM = string.ascii_letters + string.digits


def random_key() -> str:
    """A fresh, valid Open Dental style key (16 letters and digits)."""
    return "".join(secrets.choice(ALNUM) for _ in range(16))


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


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office

    account = factory.SubFactory(DeveloperAccountFactory)
    name = factory.Sequence(lambda n: f"Office {n}")
    base_url = "http://127.0.0.1:9/api/v1"
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
