"""An account's alerting policy: grace, quiet hours, repeat cap, digest hour, aging drift
(owners change it)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.alerts.models import AlertSettings

POLICY_FIELDS = (
    "grace_polls", "quiet_start", "quiet_end", "quiet_days", "repeat_hours",
    "digest_hour", "digest_time_zone", "aging_drift_pct",
)  # fmt: skip


@transaction.atomic
def alert_settings_set(*, account: DeveloperAccount, actor, **values: Any) -> AlertSettings:
    """Save the account's policy (created on first use)."""
    policy = AlertSettings.objects.filter(account=account).first() or AlertSettings(account=account)
    for field in POLICY_FIELDS:
        if field in values:
            setattr(policy, field, values[field])
    policy.full_clean()
    policy.save()
    detail = {f: str(getattr(policy, f)) for f in POLICY_FIELDS}
    audit_record(account=account, actor=actor, action="alert_settings.set", obj=policy,
                 detail=detail)  # fmt: skip
    return policy
