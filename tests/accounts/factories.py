"""Extra factories for the developer-account pages."""

from __future__ import annotations

import factory

from integrations.accounts.models import ApiResource, AuditEvent, RequestedPermission
from tests.factories import DeveloperAccountFactory


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
