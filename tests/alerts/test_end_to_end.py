"""End to end against the sandbox over real HTTP: eConnector down -> two failed polls -> one
incident -> one email (real SMTP) and one signed webhook (real receiver) -> fault cleared ->
OK poll -> resolved, and the resolution sent."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.alerts.models import Incident, Resolution
from integrations.alerts.services import channels
from integrations.offices.models import OfficeStatus, RunOutcome
from tests.alerts.test_notifications import cycle
from tests.helpers import run_to_end


def _healthy(sandbox_account):
    return next(
        o for o in sandbox_account.values()
        if o.manifest["key_status"] == "Enabled" and not o.manifest["econnector_down"]
    )  # fmt: skip


def test_econnector_down_opens_notifies_and_resolves(
    sandbox_account, sandbox_control, smtp, receiver, owner
):
    office = _healthy(sandbox_account)
    account = office.account
    channels.channel_create(account=account, actor=owner, kind="email", name="Support",
                            target="support@vendor.example")  # fmt: skip
    _, receiver.secret = channels.channel_create(
        account=account, actor=owner, kind="webhook", name="Ops", target=receiver.url
    )
    now = timezone.now()
    sandbox_control(office.manifest["customer_key"], econnector_down=True)
    assert run_to_end(office).outcome == RunOutcome.FAILED
    cycle(now)
    assert not Incident.objects.exists()  # one failed poll is within the grace
    run_to_end(office)
    cycle(now + timedelta(minutes=5))
    incident = Incident.objects.get()
    assert incident.cause == OfficeStatus.ECONNECTOR_DOWN and incident.count == 2
    assert len(smtp.messages) == 1 and "eConnector down" in smtp.messages[0]["Subject"]
    assert len(receiver.received) == 1 and receiver.received[0]["verified"]

    run_to_end(office)  # still down: the same incident, nothing new sent
    cycle(now + timedelta(minutes=10))
    assert len(smtp.messages) == 1 and len(receiver.received) == 1

    sandbox_control(office.manifest["customer_key"], econnector_down=False)
    assert run_to_end(office).outcome == RunOutcome.OK
    cycle(now + timedelta(minutes=15))
    incident.refresh_from_db()
    assert incident.resolution == Resolution.OK and incident.resolved_at is not None
    assert len(smtp.messages) == 2 and smtp.messages[1]["Subject"].startswith("[odportal] Resolved")
    body = receiver.received[1]["body"]
    assert body["event"] == "incident.resolved" and receiver.received[1]["verified"]
