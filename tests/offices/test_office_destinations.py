"""Where an office's requests (and keys) go: Remote offices use the deployment's URL; a Service or
Local server is set by an owner only, confirmed, allowed by the deployment, audited and mailed.
Tried through the service, the office form, the import (service, upload page and command)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from integrations.accounts.models import AuditEvent, Role
from integrations.offices.models import ApiMode, ImportJob, Office
from integrations.offices.services import offices
from integrations.offices.services.imports import import_job_run, offices_import
from tests.factories import MembershipFactory, UserFactory, random_key
from tests.helpers import office_form_token

URL = "http://127.0.0.1:30223/api/v1"  # loopback: allowed by the development/test settings
HOST = "127.0.0.1:30223"
NEW_URL, NEW_HOST = "http://127.0.0.2:30224/api/v1", "127.0.0.2:30224"
HEADER = "name,customer_key,api_mode,base_url,time_zone"


@pytest.fixture
def operator(account):
    return MembershipFactory(
        account=account, user=UserFactory(username="operator"), role=Role.OPERATOR
    ).user


@pytest.fixture
def owners(account, owner):
    """The owner (with an email address) and a second owner who must hear of changes."""
    owner.email = "owner@vendor.example"
    owner.save()
    second = UserFactory(username="owner2", email="owner2@vendor.example")
    MembershipFactory(account=account, user=second, role=Role.OWNER)
    return owner, second


@pytest.fixture
def server_office(account, owner):
    return offices.office_create(
        account=account, actor=owner, name="Service Office", api_mode="service",
        base_url=URL + "/", confirmed_host=HOST,
    )  # fmt: skip


@pytest.fixture
def production_networks(settings):
    """The production default: no loopback, link-local or private range is listed."""
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    return settings


def _errors(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        call()
    return exc.value.message_dict


def _edit_data(office, **changes) -> dict:
    data = {
        "name": office.name, "reference": office.reference, "api_mode": office.api_mode,
        "base_url": office.base_url, "time_zone": office.time_zone,
        "health_interval_s": office.health_interval_s, "polling_enabled": "on",
    }  # fmt: skip
    return {**data, **changes}


# --- Remote offices ---------------------------------------------------------------------------


def test_remote_offices_go_to_the_deployment_url_and_store_none(account, owner, settings):
    office = offices.office_create(
        account=account, actor=owner, name="R", base_url="http://evil.example/api/v1"
    )
    assert office.api_mode == ApiMode.REMOTE and office.base_url == ""
    settings.OPENDENTAL_REMOTE_BASE_URL = "https://od.example/api/v1"
    assert office.api_base_url == "https://od.example/api/v1" and office.api_host == "od.example"
    assert not AuditEvent.objects.filter(action="office.destination").exists()


def test_the_detail_page_says_where_requests_go(client, owner, server_office, settings):
    client.force_login(owner)
    body = client.get(reverse("office_detail", args=[server_office.public_id])).content.decode()
    assert URL in body and "set by an owner" in body


# --- who may set a server ---------------------------------------------------------------------


def test_an_owner_sets_a_server_only_with_its_host_confirmed(account, owner):
    def create(confirmed):
        return offices.office_create(
            account=account, actor=owner, name="S", api_mode="local", base_url=URL,
            confirmed_host=confirmed,
        )  # fmt: skip

    for confirmed in ("", "127.0.0.1:9", "evil.example"):
        assert (
            f"keys may be sent to {HOST}" in _errors(lambda c=confirmed: create(c))["base_url"][0]
        )
    assert not Office.objects.exists()
    assert create(HOST).base_url == URL


def test_an_operator_cannot_set_or_change_where_keys_go(account, operator, server_office):
    remote = offices.office_create(account=account, actor=operator, name="Remote Office")
    attempts = [
        lambda: offices.office_create(
            account=account, actor=operator, name="New", api_mode="service", base_url=URL,
            confirmed_host=HOST,
        ),
        lambda: offices.office_update(
            office=server_office, actor=operator, base_url=NEW_URL, confirmed_host=NEW_HOST
        ),
        lambda: offices.office_update(office=server_office, actor=operator, api_mode="remote"),
        lambda: offices.office_update(
            office=remote, actor=operator, api_mode="local", base_url=URL, confirmed_host=HOST
        ),
    ]  # fmt: skip
    for attempt in attempts:
        assert _errors(attempt)["base_url"] == [offices.OWNER_ONLY]
    for office in (server_office, remote):
        office.refresh_from_db()
    assert (server_office.api_mode, server_office.base_url) == ("service", URL)
    assert (remote.api_mode, remote.base_url) == ("remote", "")
    assert not Office.objects.filter(name="New").exists()
    # Everything else stays an operator's to change.
    offices.office_update(office=server_office, actor=operator, name="Renamed", base_url=URL)
    assert Office.objects.get(pk=server_office.pk).name == "Renamed"


def test_the_edit_form_shows_operators_the_server_read_only_and_ignores_a_posted_one(
    client, operator, server_office
):
    client.force_login(operator)
    url = reverse("office_edit", args=[server_office.public_id])
    page = client.get(url).content.decode()
    assert 'name="base_url"' in page and "disabled" in page.split('name="base_url"')[1][:200]
    posted = _edit_data(
        server_office, name="Renamed", api_mode="remote", base_url="http://10.9.9.9/api/v1",
        confirm_send="on", confirm_host="10.9.9.9",
    )  # fmt: skip
    assert client.post(url, posted).status_code == 302
    server_office.refresh_from_db()
    assert server_office.name == "Renamed"
    assert (server_office.api_mode, server_office.base_url) == ("service", URL)
    assert not AuditEvent.objects.filter(action="office.destination", actor=operator).exists()


def test_an_operator_adding_a_service_office_gets_a_field_error(client, operator, account):
    client.force_login(operator)
    data = {
        "account": str(account.public_id), "name": "Svc", "api_mode": "service", "base_url": URL,
        "time_zone": "UTC", "health_interval_s": "300", "confirm_send": "on", "confirm_host": HOST,
        "form_token": office_form_token(client),
    }  # fmt: skip
    response = client.post(reverse("office_new"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["base_url"] == [offices.OWNER_ONLY]
    assert not Office.objects.filter(name="Svc").exists()


# --- the owner's change: confirmed, audited, mailed ----------------------------------------------


def test_an_owner_changes_the_server_in_two_steps_audited_and_mailed(
    client, owners, server_office, mailoutbox, django_capture_on_commit_callbacks
):
    owner, second = owners
    client.force_login(owner)
    url = reverse("office_edit", args=[server_office.public_id])
    first = client.post(
        url, _edit_data(server_office, base_url=NEW_URL), headers={"HX-Request": "1"}
    )
    body = first.content.decode()
    assert first.status_code == 200 and f"Send this office&#x27;s keys to {NEW_HOST}" in body
    assert f'name="confirm_host" value="{NEW_HOST}"' in body
    # A confirmation of another host does not count.
    stale = _edit_data(server_office, base_url=NEW_URL, confirm_send="on", confirm_host=HOST)
    assert client.post(url, stale).status_code == 200
    assert Office.objects.get(pk=server_office.pk).base_url == URL
    confirmed = _edit_data(
        server_office, base_url=NEW_URL, confirm_send="on", confirm_host=NEW_HOST
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, confirmed).status_code == 302
    assert Office.objects.get(pk=server_office.pk).base_url == NEW_URL
    event = AuditEvent.objects.get(action="office.destination", detail__new_host=NEW_HOST)
    assert event.detail == {
        "old_host": HOST, "new_host": NEW_HOST, "old_url": URL, "new_url": NEW_URL,
    }  # fmt: skip
    assert [m.to for m in mailoutbox] == [[second.email]]  # the other owners, not the actor
    assert NEW_HOST in mailoutbox[0].subject and "developer key" in mailoutbox[0].body


def test_moving_an_office_to_remote_is_an_owners_change_too(
    owners, server_office, settings, mailoutbox, django_capture_on_commit_callbacks
):
    owner, second = owners
    with django_capture_on_commit_callbacks(execute=True):
        offices.office_update(office=server_office, actor=owner, api_mode="remote")
    assert server_office.base_url == ""
    event = AuditEvent.objects.get(action="office.destination", detail__old_host=HOST)
    assert event.detail["new_host"] == "127.0.0.1:9"  # the tests' OPENDENTAL_REMOTE_BASE_URL
    assert [m.to for m in mailoutbox] == [[second.email]]


def test_creating_a_service_office_is_audited_with_its_host(server_office):
    event = AuditEvent.objects.get(action="office.destination", object_id=server_office.public_id)
    assert (event.detail["old_host"], event.detail["new_host"]) == ("", HOST)


# --- the deployment's allow-list, and malformed URLs, at save time ---------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:30223/api/v1", "127.0.0.1"),
        ("http://localhost:30223/api/v1", "127.0.0.1"),  # a name that resolves to loopback
        ("http://[::1]:30223/api/v1", "::1"),
        ("http://169.254.10.1/api/v1", "169.254.10.1"),
        ("http://169.254.169.254/api/v1", "169.254.169.254"),
        ("http://[fd00:ec2::254]/api/v1", "fd00:ec2::254"),
        ("http://10.0.0.5:30223/api/v1", "10.0.0.5"),
        ("http://0.0.0.0:30223/api/v1", "0.0.0.0"),  # noqa: S104 - an address, not a bind
    ],
)
def test_save_refuses_an_address_the_deployment_does_not_allow(
    production_networks, client, account, owner, url, address
):
    host = url.split("//")[1].split("/")[0]
    create = lambda: offices.office_create(  # noqa: E731
        account=account, actor=owner, name="S", api_mode="service", base_url=url,
        confirmed_host=host,
    )  # fmt: skip
    message = _errors(create)["base_url"][0]
    assert f"address not allowed: {address}" in message or "Enter a valid URL" in message
    client.force_login(owner)
    data = {"account": str(account.public_id), "name": "S", "api_mode": "service",
            "base_url": url, "time_zone": "UTC", "health_interval_s": "300"}  # fmt: skip
    form = client.post(reverse("office_new"), data).context["form"]
    assert "address not allowed" in form.errors["base_url"][0]
    assert not Office.objects.exists()


def test_a_listed_network_is_allowed_and_its_neighbours_are_not(
    production_networks, account, owner
):
    production_networks.ODPORTAL_ALLOWED_NETWORKS = ["10.8.0.0/16"]

    def create(url):
        return offices.office_create(
            account=account, actor=owner, name=url, api_mode="service", base_url=url,
            confirmed_host=url.split("//")[1].split("/")[0],
        )  # fmt: skip

    assert create("http://10.8.0.5:30223/api/v1").base_url == "http://10.8.0.5:30223/api/v1"
    assert (
        "address not allowed: 10.9.0.5"
        in _errors(lambda: create("http://10.9.0.5/api/v1"))["base_url"][0]
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/?x=/api/v1",
        "http://127.0.0.1:6379/#/api/v1",
        "http://user:pass@127.0.0.1:30223/api/v1",
        "ftp://127.0.0.1/api/v1",
        "http://127.0.0.1:30223/other",
    ],
)
def test_save_refuses_a_query_fragment_userinfo_or_other_scheme(client, account, owner, url):
    problem = _errors(
        lambda: offices.office_create(
            account=account, actor=owner, name="S", api_mode="service", base_url=url,
            confirmed_host="127.0.0.1:6379",
        )
    )["base_url"][0]  # fmt: skip
    assert problem.startswith("The base URL ") or problem == "Enter a valid URL."
    client.force_login(owner)
    data = {"account": str(account.public_id), "name": "S", "api_mode": "service",
            "base_url": url, "time_zone": "UTC", "health_interval_s": "300"}  # fmt: skip
    assert client.post(reverse("office_new"), data).context["form"].errors["base_url"]
    assert not Office.objects.exists()


# --- imports ----------------------------------------------------------------------------------


def _rows(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_an_operators_import_may_not_set_servers(account, operator):
    source = _rows(f"Svc,{random_key()},service,{URL},UTC", f"Rem,{random_key()},remote,{URL},UTC")
    result = offices_import(account=account, actor=operator, source=source, confirmed_hosts={HOST})
    assert [r.outcome for r in result.rows] == ["rejected", "created"]
    assert result.rows[0].errors == {"base_url": [offices.OWNER_ONLY]}
    override = offices_import(
        account=account, actor=operator, source=_rows(f"Svc2,{random_key()},local,,UTC"),
        base_url_override=URL, confirmed_hosts={HOST},
    )  # fmt: skip
    assert override.rows[0].errors == {"base_url": [offices.OWNER_ONLY]}
    assert list(Office.objects.values_list("name", "base_url")) == [("Rem", "")]


def test_an_import_refuses_addresses_the_deployment_does_not_allow(
    production_networks, account, owner
):
    source = _rows(
        f"Meta,{random_key()},service,http://169.254.169.254/api/v1,UTC",
        f"Query,{random_key()},service,http://10.8.0.5/?x=/api/v1,UTC",
    )
    result = offices_import(
        account=account, actor=owner, source=source,
        confirmed_hosts={"169.254.169.254", "10.8.0.5"},
    )  # fmt: skip
    assert result.rejected == 2 and not Office.objects.exists()
    assert "address not allowed: 169.254.169.254" in result.rows[0].errors["base_url"][0]
    assert "query" in result.rows[1].errors["base_url"][0]


def test_an_owners_import_confirms_hosts_then_mails_once(
    account, owners, mailoutbox, django_capture_on_commit_callbacks
):
    owner, second = owners
    source = _rows(
        f"Svc A,{random_key()},service,{URL},UTC",
        f"Svc B,{random_key()},local,{NEW_URL},UTC",
        f"Rem,{random_key()},remote,,UTC",
    )
    first = offices_import(account=account, actor=owner, source=source)
    assert [r.outcome for r in first.rows] == ["rejected", "rejected", "created"]
    assert first.hosts_to_confirm == {HOST, NEW_HOST}
    with django_capture_on_commit_callbacks(execute=True):
        again = offices_import(
            account=account, actor=owner, source=source, confirmed_hosts=first.hosts_to_confirm
        )
    assert [r.outcome for r in again.rows] == ["created", "created", "skipped"]
    events = AuditEvent.objects.filter(action="office.destination").order_by("object_repr")
    assert [(e.detail["old_host"], e.detail["new_host"]) for e in events] == [
        ("", HOST), ("", NEW_HOST),
    ]  # fmt: skip
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [second.email]
    assert "Svc A: 127.0.0.1:30223" in mailoutbox[0].body and NEW_HOST in mailoutbox[0].body


def test_the_upload_page_asks_to_confirm_the_hosts_then_imports(client, account, owner):
    client.force_login(owner)
    url = reverse("account_import", args=[account.public_id])
    source = _rows(f"Svc,{random_key()},service,{URL},UTC").encode()

    def upload(**extra):
        file = SimpleUploadedFile("o.csv", source, content_type="text/csv")
        return client.post(url, {"file": file, **extra})

    body = upload().content.decode()
    assert f"Send these offices&#x27; keys to {HOST}" in body
    assert f'name="confirm_hosts" value="{HOST}"' in body
    not_ticked = upload(confirm_hosts=HOST).content.decode()
    assert f"Send these offices&#x27; keys to {HOST}" in not_ticked  # asked again
    assert not ImportJob.objects.exists()  # nothing is queued until the host is confirmed
    response = upload(confirm_send="on", confirm_hosts=HOST)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.confirmed_hosts == [HOST]
    import_job_run(job.pk, claimer="test")  # the worker's part, called as a function
    assert Office.objects.get().base_url == URL


def test_the_import_command_takes_confirmed_hosts(account, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            {"base_url": URL, "offices": [{"name": "Svc", "customer_key": random_key(),
                                            "mode": "Service"}]}
        )
    )  # fmt: skip
    args = ["import_offices", str(path), "--account", str(account.public_id)]
    out = StringIO()
    call_command(*args, stdout=out)
    assert f"--confirm-host {HOST}" in out.getvalue() and not Office.objects.exists()
    call_command(*args, "--confirm-host", HOST, stdout=StringIO())
    assert Office.objects.get().base_url == URL


def test_the_admin_shows_the_mode_and_server_read_only(admin_client, server_office):
    url = reverse("admin:offices_office_change", args=[server_office.pk])
    page = admin_client.get(url).content.decode()
    assert URL in page and 'name="base_url"' not in page and 'name="api_mode"' not in page
