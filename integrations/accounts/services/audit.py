"""The audit trail: one helper, so every service records events the same way."""

from __future__ import annotations

from typing import Any

from django.db import models

from integrations.accounts.models import AuditEvent, DeveloperAccount


def audit_record(
    *,
    account: DeveloperAccount | None,
    actor: Any,
    action: str,
    obj: models.Model,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event; ``detail`` must never contain a secret."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        account=account,
        actor=user,
        action=action,
        object_type=obj._meta.model_name or "",
        object_id=str(getattr(obj, "public_id", obj.pk)),
        object_repr=str(obj)[:200],
        detail=detail or {},
    )
