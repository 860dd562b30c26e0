"""Developer and customer keys never reach logs, exception texts, stored errors, audit details
or page source (pages show at most the last 4), after real polls against the live sandbox."""

from __future__ import annotations

import logging
import sys
import traceback

import pytest
from django.urls import reverse
from django.views.debug import ExceptionReporter

from integrations.accounts.models import AuditEvent
from integrations.offices.models import Office, PollKind, PollRun
from integrations.offices.services import keys, offices
from integrations.offices.services.polling import dispatch, execute
from integrations.opendental import OpenDentalClient, OpenDentalError
from tests.factories import random_key

pytestmark = pytest.mark.django_db(transaction=False)


def _keys(sandbox) -> list[str]:
    manifest = sandbox.manifest
    return [manifest["developer_key"], *(o["customer_key"] for o in manifest["offices"])]


def _leaks(text: str, secrets: list[str]) -> list[str]:
    """Which secrets (or any 8-character piece, or the last 5) appear in a text."""
    found = []
    for secret in secrets:
        pieces = {secret, secret[-5:], *(secret[i : i + 8] for i in range(len(secret) - 7))}
        if any(piece in text for piece in pieces):
            found.append(f"…{secret[-4:]}")
    return found


@pytest.fixture
def debug_logs(caplog):
    """Every logger at DEBUG, captured raw (before any redacting filter)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def polled(debug_logs, sandbox_account, owner, sandbox):
    """Health and aging polls of every sandbox office, plus one unreachable office."""
    dead = offices.office_create(
        account=sandbox_account["Queries Office"].account,
        actor=owner,
        name="Unreachable Office",
        api_mode="service",
        base_url="http://127.0.0.1:9/api/v1",
        confirmed_host="127.0.0.1:9",
        time_zone="UTC",
    )
    keys.customer_key_add(office=dead, key=random_key(), actor=owner)
    for office in [*sandbox_account.values(), dead]:
        for kind in (PollKind.HEALTH, PollKind.AGING):
            run, _ = dispatch.poll_enqueue(office=office, kind=kind, send=False)
            for _ in range(50):
                if execute.run_execute(run.pk) is None:
                    break
                PollRun.objects.filter(pk=run.pk).update(queued_at=run.queued_at)
    return sandbox_account


def test_polls_log_no_key_at_debug_and_store_none_in_errors_or_audit(debug_logs, polled, sandbox):
    secrets = _keys(sandbox)
    records = debug_logs.get_records("setup") + debug_logs.records  # polls ran in setup
    assert len(records) > 10  # the capture really saw the polls
    failing = Office.objects.exclude(last_error="")
    assert failing.count() >= 3  # eConnector down, disabled key, unreachable
    leaks = []
    for record in records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        leaks += [f"log {record.name}: {x}" for x in _leaks(text, secrets)]
    for run in PollRun.objects.all():
        leaks += [f"run {run.pk}.error: {x}" for x in _leaks(run.error, secrets)]
    for office in Office.objects.all():
        leaks += [f"{office.name}.last_error: {x}" for x in _leaks(office.last_error, secrets)]
    for event in AuditEvent.objects.all():
        text = f"{event.detail} {event.object_repr} {event.object_id}"
        leaks += [f"audit {event.action}: {x}" for x in _leaks(text, secrets)]
    assert not leaks, leaks


def test_client_errors_never_carry_a_key_in_message_repr_or_body(sandbox):
    secrets = _keys(sandbox)
    spec = next(o for o in sandbox.manifest["offices"] if o["key_status"] != "Enabled")
    client = OpenDentalClient(
        sandbox.manifest["base_url"], secrets[0], spec["customer_key"], max_retries=0
    )
    with pytest.raises(OpenDentalError) as raised:
        client.security_perms()
    exc = raised.value
    text = f"{exc} {exc!r} {exc.body} {client!r} " + "".join(traceback.format_exception(exc))
    assert not _leaks(text, secrets)


def test_pages_show_at_most_the_last_four_of_any_key(client, owner, polled, sandbox):
    secrets = _keys(sandbox)
    client.force_login(owner)
    account = next(iter(polled.values())).account
    urls = [
        reverse("overview"),
        reverse("office_list"),
        reverse("account_list"),
        *(
            reverse(name, args=[account.public_id])
            for name in (
                "account_detail",
                "account_edit",
                "account_audit",
                "account_audit_csv",
                "account_members",
                "account_portal_request",
                "account_import",
            )
        ),
    ]
    for office in Office.objects.all():
        urls += [
            reverse("office_detail", args=[office.public_id]),
            reverse("office_aging", args=[office.public_id]),
        ]
        for key in office.keys.all():
            urls.append(reverse("office_key_rotate", args=[office.public_id, key.public_id]))
    for run in PollRun.objects.all():
        urls.append(reverse("run_badge", args=[run.public_id]))
    shown_last4 = False
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 286), url
        body = (b"".join(response) if response.streaming else response.content).decode()
        assert not _leaks(body, secrets), url
        shown_last4 |= any(s[-4:] in body for s in secrets)
    assert shown_last4  # the pages do identify keys, by their last 4


class _Sealed:
    """Holds the key pair with a repr that shows nothing (the report lists this frame too)."""

    def __init__(self, pair: list[str]) -> None:
        self.pair = pair

    def __repr__(self) -> str:
        return "<sealed>"


def _client_exception_report(sealed: _Sealed, rf) -> tuple[str, str]:
    client = OpenDentalClient("http://127.0.0.1:9/api/v1", *sealed.pair, max_retries=0)
    try:
        client.clinics()
    except OpenDentalError:
        report = ExceptionReporter(rf.get("/"), *sys.exc_info())
        return report.get_traceback_text(), report.get_traceback_html()
    raise AssertionError("the unreachable office answered")


def test_an_exception_report_text_from_the_client_shows_no_key(sandbox, rf):
    text, _html = _client_exception_report(_Sealed(_keys(sandbox)[:2]), rf)
    assert "Unreachable" in text
    assert not _leaks(text, _keys(sandbox))


def test_a_debug_exception_report_page_from_the_client_shows_no_key(sandbox, rf):
    """Django's technical 500 page lists frame locals; the client's must not hold keys."""
    _text, html = _client_exception_report(_Sealed(_keys(sandbox)[:2]), rf)
    assert not _leaks(html, _keys(sandbox))
