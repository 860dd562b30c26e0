"""Fixtures of the security tests: one of every object a URL can name, and their endpoints."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from integrations.accounts.models import Invitation
from integrations.accounts.services import invitations
from integrations.alerts.models import Channel, Incident
from integrations.apitools.models import ConsoleCall, EventBatch, EventInbox
from integrations.offices.models import (
    AgingSnapshot,
    BulkJob,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
)
from tests.factories import ImportJobFactory
from tests.helpers import endpoints


@pytest.fixture
def run(office):
    now = timezone.now()
    return PollRun.objects.create(
        office=office, kind=PollKind.HEALTH, outcome=RunOutcome.OK, started_at=now, finished_at=now
    )


@pytest.fixture
def snapshot(office):
    return AgingSnapshot.objects.create(
        office=office,
        source=SnapshotSource.SHORT_QUERY,
        state="complete",
        as_of=timezone.localdate(),
        completed_at=timezone.now(),
    )


@pytest.fixture
def import_job(account):
    return ImportJobFactory(account=account)


@pytest.fixture
def bulk_job(owner, office):
    return BulkJob.objects.create(account=office.account, requested_by=owner, action="export")


@pytest.fixture
def console_call(office):
    return ConsoleCall.objects.create(office=office, method="GET", path="/clinics")


@pytest.fixture
def event_inbox(office):
    return EventInbox.objects.create(office=office)


@pytest.fixture
def event_batch(office):
    return EventBatch.objects.create(office=office, body_sha256="0" * 64, rows=[{"n": 1}])


@pytest.fixture
def incident(office):
    now = timezone.now()
    return Incident.objects.create(
        office=office, account=office.account, cause="econnector_down", first_seen=now,
        last_seen=now, opened_at=now,
    )  # fmt: skip


@pytest.fixture
def alert_channel(account):
    return Channel.objects.create(account=account, kind="email", name="Support", target="")


@pytest.fixture
def invitation_link(account, owner):
    """An open invitation to the account and the token of its link."""
    token = "invitation-token-for-tests"
    invitation = Invitation.objects.create(
        account=account, email="invitee@example.com", token_hash=invitations.token_hash(token),
        invited_by=owner, expires_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    return SimpleNamespace(invitation=invitation, token=token)


@pytest.fixture
def objects(account, office, key, run, snapshot, import_job, console_call, event_inbox,
            event_batch, incident, alert_channel, bulk_job, invitation_link):  # fmt: skip
    """Every object a URL parameter can name, by the names tests.helpers.endpoints uses."""
    return {
        "account": account, "office": office, "key": key, "run": run, "snapshot": snapshot,
        "import_job": import_job, "console_call": console_call, "event_inbox": event_inbox,
        "event_batch": event_batch, "incident": incident, "alert_channel": alert_channel,
        "bulk_job": bulk_job,
        "invitation": invitation_link.invitation, "invitation_link": invitation_link,
    }  # fmt: skip


@pytest.fixture
def all_endpoints(objects, owner, teammate, outsider):
    found, unbuildable = endpoints(objects)
    assert not unbuildable, "URL patterns the security tests cannot exercise:\n" + "\n".join(
        unbuildable
    )
    return found
