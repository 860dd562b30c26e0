"""An office's API Events subscriptions, managed through Open Dental's API (GET/POST/PUT/DELETE
/subscriptions) with the office's key; the endpoint is always the office's receiving URL.

These calls run in the web request like the console's (same deadline and pacing).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from integrations.accounts.services.audit import audit_record
from integrations.apitools.services.deadman import event_inbox_expect
from integrations.apitools.services.events import event_inbox_for_office, event_receiving_url
from integrations.offices.models import Office
from integrations.offices.services.clients import NoKey, office_client
from integrations.opendental import OpenDentalClient, OpenDentalError, Subscription


def _client(office: Office) -> OpenDentalClient:
    try:
        return office_client(
            office=office, max_pace_wait_s=settings.CONSOLE_MAX_PACE_WAIT_S,
            deadline_s=settings.CONSOLE_DEADLINE_S,
        ).without_retries()  # fmt: skip
    except NoKey as exc:
        raise ValidationError(str(exc)) from None


def _od_call(func, *args, **kwargs) -> Any:
    """An Open Dental call whose failure becomes a form error with Open Dental's text."""
    try:
        return func(*args, **kwargs)
    except OpenDentalError as exc:
        raise ValidationError(f"Open Dental answered: {exc.message}") from None


def office_subscriptions(office: Office) -> list[Subscription]:
    """The office key's subscriptions, as Open Dental lists them now."""
    return _od_call(_client(office).subscriptions)


def subscription_add(*, office: Office, actor: Any, **fields: Any) -> Subscription:
    """Subscribe the office's receiving URL to a table's events (POST /subscriptions)."""
    inbox = event_inbox_for_office(office)
    url = event_receiving_url(inbox)
    if not url:
        raise ValidationError(
            "Set ODPORTAL_PUBLIC_URL (this deployment's public address) before subscribing: "
            "Open Dental posts the events there."
        )
    client = _client(office)
    sub = _od_call(client.subscription_create, end_point_url=url, **fields)
    _audit(office, actor, "events.subscription_add", sub.subscription_num, fields)
    _expectation_refresh(office, client)
    return sub


def subscription_change(*, office: Office, actor: Any, number: int, **fields: Any) -> None:
    """Change a subscription's polling, workstation or stop time (PUT /subscriptions/{n})."""
    client = _client(office)
    _od_call(client.subscription_update, number, **fields)
    _audit(office, actor, "events.subscription_change", number, fields)
    _expectation_refresh(office, client)


def subscription_remove(*, office: Office, actor: Any, number: int) -> None:
    """Stop a subscription (DELETE /subscriptions/{n})."""
    client = _client(office)
    _od_call(client.subscription_delete, number)
    _audit(office, actor, "events.subscription_remove", number, {})
    _expectation_refresh(office, client)


def _expectation_refresh(office: Office, client: OpenDentalClient) -> None:
    """The dead-man switch's cadence from the subscriptions now at Open Dental (best effort:
    a failed listing leaves it as it was)."""
    inbox = event_inbox_for_office(office)
    try:
        subs = client.subscriptions()
    except OpenDentalError:
        return
    event_inbox_expect(inbox=inbox, subs=subs, url=event_receiving_url(inbox))


def _audit(office: Office, actor: Any, action: str, number: int, fields: dict) -> None:
    detail = {"office": office.name, "subscription": number}
    detail |= {k: str(v) for k, v in fields.items() if v not in (None, "")}
    audit_record(account=office.account, actor=actor, action=action, obj=office, detail=detail)
