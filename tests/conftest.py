"""Shared fixtures: the three users every view is tried with, and their account."""

from __future__ import annotations

import pytest

from integrations.models import Role
from tests.factories import DeveloperAccountFactory, MembershipFactory, OfficeFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def account(db):
    return DeveloperAccountFactory()


@pytest.fixture
def owner(account):
    return MembershipFactory(
        account=account, user=UserFactory(username="owner"), role=Role.OWNER
    ).user


@pytest.fixture
def teammate(account):
    """A viewer of the same account: sees everything, may change nothing."""
    return MembershipFactory(
        account=account, user=UserFactory(username="teammate"), role=Role.VIEWER
    ).user


@pytest.fixture
def outsider(db):
    """A user of another team."""
    other = MembershipFactory(user=UserFactory(username="outsider"), role=Role.OWNER)
    return other.user


@pytest.fixture
def office(account):
    return OfficeFactory(account=account)
