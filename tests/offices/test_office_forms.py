"""Office detail actions: add/edit office, keys (never echoed), key actions, poll now."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import AuditEvent
from integrations.offices.models import CustomerKey, KeyStatus, Office, PollKind, PollRun
from integrations.offices.services import keys, offices
from integrations.offices.services.polling.dispatch import WorkersUnavailable
from odportal.lib import crypto
from tests.factories import CustomerKeyFactory, DeveloperAccountFactory, OfficeFactory, random_key
from tests.helpers import office_form_token

HX = {"HX-Request": "true"}


def _detail(office):
    return reverse("office_detail", args=[office.public_id])


def test_add_office_creates_it_in_the_chosen_account(owner_client, account):
    response = owner_client.post(
        reverse("office_new"),
        {
            "form_token": office_form_token(owner_client),
            "account": str(account.public_id),
            "name": "New Smiles",
            "reference": "ns-1",
            "api_mode": "remote",
            "base_url": "",
            "time_zone": "America/Denver",
            "polling_enabled": "on",
            "health_interval_s": "300",
        },
    )
    office = Office.objects.get(name="New Smiles")
    assert response.status_code == 302 and response.url == _detail(office)
    assert office.account == account and office.base_url == ""


def test_add_office_shows_field_errors_for_bad_base_url_and_time_zone(owner_client, account):
    data = {
        "account": str(account.public_id),
        "name": "X",
        "api_mode": "service",
        "base_url": "https://example.com/other",
        "time_zone": "Mars/Olympus",
        "health_interval_s": "300",
    }
    response = owner_client.post(reverse("office_new"), data, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "must end with /api/v1" in body and "Unknown time zone" in body
    assert not Office.objects.filter(name="X").exists()


def test_duplicate_reference_maps_the_service_error_onto_the_form(owner_client, account, office):
    office.reference = "dup"
    office.save()
    data = {
        "account": str(account.public_id),
        "form_token": office_form_token(owner_client),
        "name": "Y",
        "reference": "dup",
        "api_mode": "remote",
        "time_zone": "America/Denver",
        "health_interval_s": "300",
    }
    response = owner_client.post(reverse("office_new"), data)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "reference": ["Another office of this account has this reference."]
    }


def test_an_office_keeps_its_reference_when_edited_and_other_accounts_may_reuse_it(owner, office):
    offices.office_update(office=office, actor=owner, reference="R-1")
    offices.office_update(office=office, actor=owner, name="Renamed", reference="R-1")
    other = offices.office_create(
        account=DeveloperAccountFactory(), actor=None, name="Elsewhere", reference="R-1"
    )
    assert other.reference == office.reference == "R-1"


def test_the_office_service_checks_every_constraint_of_the_model():
    # office_create/office_update skip Django's generic constraint check (slow, names no field)
    # and check these in _validate_office: a new constraint must be checked there too.
    # (office_base_url_only_own_server is _destination_check's: it sets or clears base_url.)
    names = {c.name for c in Office._meta.constraints}
    assert names == {
        "office_unique_reference",
        "office_name_not_blank",
        "office_base_url_only_own_server",
    }


def test_edit_office_goes_through_the_service_and_audits(owner_client, office):
    data = {
        "name": "Renamed",
        "reference": "",
        "api_mode": "remote",
        "base_url": "",
        "time_zone": "America/Chicago",
        "health_interval_s": "600",
    }
    response = owner_client.post(reverse("office_edit", args=[office.public_id]), data)
    office.refresh_from_db()
    assert response.status_code == 302
    assert office.name == "Renamed" and office.polling_enabled is False
    assert AuditEvent.objects.filter(action="office.update").exists()


@pytest.mark.parametrize("interval", ["10", "0"])
def test_edit_office_rejects_a_too_short_interval(owner_client, office, interval):
    data = {"name": "A", "api_mode": "remote", "base_url": office.base_url}
    data.update(time_zone="America/Chicago", health_interval_s=interval)
    response = owner_client.post(reverse("office_edit", args=[office.public_id]), data)
    assert "at most once a minute" in response.content.decode()
    office.refresh_from_db()
    assert office.health_interval_s == 300 and office.name != "A"  # nothing saved


def test_add_key_shows_only_last4_and_never_echoes_the_key(owner_client, office):
    plaintext = random_key()
    response = owner_client.post(
        reverse("office_key_add", args=[office.public_id]), {"customer_key": plaintext}, follow=True
    )
    body = response.content.decode()
    assert plaintext not in body and plaintext not in response.redirect_chain[-1][0]
    assert f"…{plaintext[-4:]}" in body
    assert CustomerKey.objects.get(office=office).last4 == plaintext[-4:]


@pytest.mark.parametrize(
    ("value", "message"),
    [("short", "exactly 16 letters and digits"), ("abcdefghijklmno!", "exactly 16 letters")],
)
def test_invalid_key_is_refused_without_echo(owner_client, office, value, message):
    url = reverse("office_key_add", args=[office.public_id])
    response = owner_client.post(url, {"customer_key": value}, headers=HX)
    body = response.content.decode()
    assert message in body and f'value="{value}"' not in body and "<html" not in body
    assert 'type="password"' in body and 'autocomplete="new-password"' in body


def test_duplicate_key_is_refused_without_echo(owner_client, office, account):
    plaintext = random_key()
    CustomerKeyFactory(office=OfficeFactory(account=account), plaintext=plaintext)
    url = reverse("office_key_add", args=[office.public_id])
    response = owner_client.post(url, {"customer_key": plaintext})
    body = response.content.decode()
    assert "already registered" in body and plaintext not in body


def test_htmx_key_add_success_redirects_the_client(owner_client, office):
    url = reverse("office_key_add", args=[office.public_id])
    response = owner_client.post(url, {"customer_key": random_key()}, headers=HX)
    assert response["HX-Redirect"] == _detail(office)


def test_disable_requires_a_reason_and_records_it(owner_client, office, key):
    url = reverse("office_key_disable", args=[office.public_id, key.public_id])
    assert "Disable key" in owner_client.get(url).content.decode()
    refused = owner_client.post(url, {"reason": ""})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    key.refresh_from_db()
    assert key.status == KeyStatus.ENABLED
    owner_client.post(url, {"reason": "office cancelled"})
    key.refresh_from_db()
    event = AuditEvent.objects.get(action="key.disable")
    assert key.status == KeyStatus.DISABLED_BY_DEVELOPER
    assert event.detail["reason"] == "office cancelled"


def test_enable_rotate_and_move_write_audit_events_with_reasons(owner_client, office, key, account):
    oid = office.public_id
    owner_client.post(reverse("office_key_disable", args=[oid, key.public_id]), {"reason": "r1"})
    owner_client.post(reverse("office_key_enable", args=[oid, key.public_id]), {"reason": "r2"})
    new = random_key()
    response = owner_client.post(
        reverse("office_key_rotate", args=[oid, key.public_id]),
        {"customer_key": new, "reason": "r3"},
        follow=True,
    )
    assert new not in response.content.decode()
    current = CustomerKey.objects.get(office=office, is_current=True)
    target = OfficeFactory(account=account)
    owner_client.post(
        reverse("office_key_move", args=[oid, current.public_id]),
        {"to_office": str(target.public_id), "reason": "r4"},
    )
    reasons = dict(AuditEvent.objects.values_list("action", "detail__reason"))
    assert reasons["key.enable"] == "r2" and reasons["key.rotate"] == "r3"
    assert reasons["key.move"] == "r4"
    assert CustomerKey.objects.get(pk=current.pk).office == target


def test_move_only_offers_offices_of_the_same_account(owner_client, office, key):
    foreign = OfficeFactory()
    url = reverse("office_key_move", args=[office.public_id, key.public_id])
    response = owner_client.post(url, {"to_office": str(foreign.public_id), "reason": "x"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def _radios(body: str) -> int:
    return body.count('type="radio" name="to_office"')


def test_move_lists_a_searchable_handful_of_the_accounts_offices(owner_client, office, key):
    for n in range(30):
        OfficeFactory(account=office.account, name=f"Branch {n:02d}")
    OfficeFactory(account=office.account, name="Harbor View", reference="hv-7")
    OfficeFactory(name="Harbor View Elsewhere")  # another account's: never offered
    url = reverse("office_key_move", args=[office.public_id, key.public_id])
    body = owner_client.get(url).content.decode()
    assert _radios(body) == 25 and "Showing 25 of 31 offices" in body
    assert office.name not in body.split("move-choices", 1)[1]  # not to itself

    choices = reverse("office_key_move_choices", args=[office.public_id, key.public_id])
    body = owner_client.get(choices, {"q": "harbor"}, headers=HX).content.decode()
    assert _radios(body) == 1 and "Harbor View" in body and "Elsewhere" not in body
    assert "Showing" not in body
    body = owner_client.get(choices, {"q": "hv-7"}).content.decode()  # by reference too
    assert _radios(body) == 1
    body = owner_client.get(choices, {"q": "nothing like it"}).content.decode()
    assert _radios(body) == 0 and "No other office matches" in body
    body = owner_client.get(url, {"q": "harbor"}).content.decode()  # without JavaScript
    assert _radios(body) == 1 and 'value="harbor"' in body


def test_move_accepts_any_office_of_the_account_and_keeps_the_pick_on_errors(
    owner_client, office, key
):
    for n in range(30):
        OfficeFactory(account=office.account, name=f"Branch {n:02d}")
    far = OfficeFactory(account=office.account, name="Zephyr Dental")  # not in the first 25
    url = reverse("office_key_move", args=[office.public_id, key.public_id])
    response = owner_client.post(url, {"to_office": str(far.public_id), "reason": ""})
    body = response.content.decode()
    assert response.status_code == 200 and "This field is required" in body
    assert f'value="{far.public_id}" checked' in body and _radios(body) == 26
    response = owner_client.post(url, {"to_office": str(far.public_id), "reason": "merged"})
    assert response.status_code == 302
    assert CustomerKey.objects.get(pk=key.pk).office == far


def test_poll_now_queues_a_health_run(owner_client, office, key, owner):
    response = owner_client.post(
        reverse("office_poll", args=[office.public_id]), {"kind": "health"}
    )
    run = PollRun.objects.get(office=office)
    assert response.status_code == 302
    assert run.kind == PollKind.HEALTH and run.requested_by == owner


def test_refresh_aging_over_htmx_returns_a_live_badge(owner_client, office, key):
    url = reverse("office_poll", args=[office.public_id])
    response = owner_client.post(url, {"kind": "aging"}, headers=HX)
    run = PollRun.objects.get(office=office, kind=PollKind.AGING)
    body = response.content.decode()
    assert reverse("run_badge", args=[run.public_id]) in body and "every 2s" in body


@pytest.mark.django_db(transaction=True)
def test_poll_now_says_workers_unavailable_when_the_broker_is_down(client, owner, office, key):
    client.force_login(owner)
    boom = WorkersUnavailable("connection refused")
    with mock.patch("integrations.offices.services.polling.dispatch.run_send", side_effect=boom):
        response = client.post(
            reverse("office_poll", args=[office.public_id]), {"kind": "health"}, headers=HX
        )
    assert "Workers unavailable" in response.content.decode()


def test_detail_escapes_the_last_error_and_shows_who_acts(owner_client, office):
    office.status = "econnector_down"
    office.last_error = "<script>alert(1)</script>"
    office.save()
    body = owner_client.get(_detail(office)).content.decode()
    assert "<script>alert(1)" not in body and "&lt;script&gt;" in body
    assert "restart the eConnector" in body


def _next_check(owner_client, office) -> str:
    body = owner_client.get(_detail(office)).content.decode()
    return body.split("<dt>Next check</dt>", 1)[1].split("</dd>", 1)[0]


def test_the_office_page_says_when_the_next_health_check_is_or_why_there_is_none(
    owner_client, office, key, owner
):
    office.next_health_at = timezone.now() + timedelta(minutes=4, seconds=30)
    office.save(update_fields=["next_health_at"])
    assert "Not polled: the account has no developer key." in _next_check(owner_client, office)
    account = office.account
    account.developer_key_encrypted = crypto.encrypt(random_key())
    account.save(update_fields=["developer_key_encrypted"])
    assert "(in 4 minutes)" in _next_check(owner_client, office)

    # Open Dental reported the key disabled: still checked, at the slower pace.
    CustomerKey.objects.filter(pk=key.pk).update(status=KeyStatus.DISABLED_BY_CUSTOMER)
    Office.objects.filter(pk=office.pk).update(
        status="key_disabled", next_health_at=timezone.now() + timedelta(minutes=59, seconds=30)
    )
    assert "checked less often" in _next_check(owner_client, office)

    Office.objects.filter(pk=office.pk).update(next_health_at=None)
    assert "Due: at the next sweep." in _next_check(owner_client, office)
    keys.customer_key_disable(key=CustomerKey.objects.get(pk=key.pk), actor=owner)
    assert "Not polled: the current key is disabled." in _next_check(owner_client, office)
    Office.objects.filter(pk=office.pk).update(polling_enabled=False)
    assert "Polling is off for this office." in _next_check(owner_client, office)


def test_enabling_a_key_the_office_disabled_explains_who_can_really_enable_it(
    owner_client, office, key
):
    CustomerKey.objects.filter(pk=key.pk).update(status=KeyStatus.DISABLED_BY_CUSTOMER)
    url = reverse("office_key_enable", args=[office.public_id, key.public_id])
    body = owner_client.get(url).content.decode()
    assert "Open Dental reports this key disabled by customer" in body
    assert "Only the office, in Open Dental, can enable it there" in body


@pytest.mark.django_db(transaction=True)
def test_nine_concurrent_refresh_now_clicks_queue_one_run_and_never_fail(owner, office, key):
    from django.test import Client

    from tests.helpers import at_once

    url = reverse("office_poll", args=[office.public_id])
    statuses: list[int] = []

    def click() -> None:
        client = Client(raise_request_exception=False)
        client.force_login(owner)
        statuses.append(client.post(url, {"kind": "aging"}, headers=HX).status_code)

    raised = at_once([click] * 9)
    assert raised == [None] * 9
    assert sorted(statuses) == [200] * 9, statuses
    assert PollRun.objects.filter(office=office, kind=PollKind.AGING).count() == 1


@pytest.mark.parametrize("mode", ["service", "local"])
@pytest.mark.parametrize("url", ["", "   "])
def test_service_and_local_offices_must_give_their_own_server(owner_client, account, mode, url):
    data = {
        "account": str(account.public_id),
        "name": "Own Server",
        "form_token": office_form_token(owner_client),
        "api_mode": mode,
        "base_url": url,
        "time_zone": "America/Chicago",
        "health_interval_s": "300",
    }
    response = owner_client.post(reverse("office_new"), data, headers=HX)
    form = response.context["form"]
    assert form.errors["base_url"] == [offices.SERVER_NEEDED]
    assert 'value="Own Server"' in response.content.decode()  # what was typed stays
    assert not Office.objects.filter(name="Own Server").exists()


def test_switching_an_office_to_local_without_a_server_is_refused(owner_client, office):
    data = {"name": office.name, "api_mode": "local", "base_url": ""}
    data.update(time_zone="America/Chicago", health_interval_s="300")
    response = owner_client.post(reverse("office_edit", args=[office.public_id]), data)
    assert response.context["form"].errors["base_url"] == [offices.SERVER_NEEDED]
    office.refresh_from_db()
    assert office.api_mode == "remote" and office.base_url == ""


def test_office_form_labels_say_api_mode_and_base_url(owner_client):
    body = owner_client.get(reverse("office_new")).content.decode()
    assert '<label for="id_api_mode">API mode ' in body
    assert '<label for="id_base_url">Base URL<' in body
