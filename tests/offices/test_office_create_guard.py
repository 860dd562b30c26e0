"""Adding an office once (issue 21): a one-time form token, so a double submission adds one
office, and a field error the user can override for a name the account already has."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from integrations.offices.models import Office
from integrations.offices.services import offices
from odportal.lib.forms import form_token_new, form_token_read
from tests.factories import OfficeFactory
from tests.helpers import office_form_token

HX = {"HX-Request": "true"}


def _data(account, token, **extra) -> dict:
    return {
        "form_token": token,
        "account": str(account.public_id),
        "name": "New Smiles",
        "api_mode": "remote",
        "time_zone": "UTC",
        "health_interval_s": "300",
        "polling_enabled": "on",
        **extra,
    }


def test_two_posts_of_one_form_add_one_office(owner_client, account):
    data = _data(account, office_form_token(owner_client))
    first = owner_client.post(reverse("office_new"), data)
    second = owner_client.post(reverse("office_new"), data, follow=True)
    office = Office.objects.get(name="New Smiles")  # one, not two
    detail = reverse("office_detail", args=[office.public_id])
    assert first.url == detail
    assert second.redirect_chain == [(detail, 302)]
    assert "was already added by this form" in second.content.decode()


def test_the_second_htmx_post_is_sent_to_the_first_office(owner_client, account):
    data = _data(account, office_form_token(owner_client))
    owner_client.post(reverse("office_new"), data, headers=HX)
    again = owner_client.post(reverse("office_new"), data, headers=HX)
    office = Office.objects.get()
    assert again["HX-Redirect"] == reverse("office_detail", args=[office.public_id])


@pytest.mark.parametrize("token", ["", "forged", "another user's"])
def test_a_post_without_a_valid_token_adds_nothing_and_offers_a_fresh_one(
    owner_client, account, teammate, token
):
    if token == "another user's":
        token = form_token_new(teammate)
    response = owner_client.post(reverse("office_new"), _data(account, token))
    form = response.context["form"]
    assert "This form has expired" in form.non_field_errors()[0]
    assert not Office.objects.exists()
    fresh = form.data["form_token"]
    assert fresh != token
    # Saving again (the page now carries the fresh token) goes through, typed values kept.
    assert 'value="New Smiles"' in response.content.decode()
    owner_client.post(reverse("office_new"), _data(account, fresh))
    assert Office.objects.filter(name="New Smiles").exists()


def test_a_name_the_account_has_is_a_field_error_the_user_can_override(owner_client, account):
    OfficeFactory(account=account, name="new smiles")
    response = owner_client.post(
        reverse("office_new"), _data(account, office_form_token(owner_client))
    )
    form = response.context["form"]
    assert form.errors["name"] == [
        "This account already has an office named New Smiles. Tick “Add a second office with "
        "this name” to add it anyway."
    ]
    assert form.same_name_asked and 'name="same_name_ok"' in response.content.decode()
    assert Office.objects.count() == 1
    token = form.data["form_token"]  # the same form: nothing was added with its token yet
    owner_client.post(reverse("office_new"), _data(account, token, same_name_ok="on"))
    assert Office.objects.filter(name__iexact="new smiles").count() == 2


def test_the_override_is_not_offered_until_asked(owner_client):
    assert 'name="same_name_ok"' not in owner_client.get(reverse("office_new")).content.decode()


def test_another_account_may_use_the_name(owner_client, account):
    OfficeFactory(name="New Smiles")  # another team's account
    owner_client.post(reverse("office_new"), _data(account, office_form_token(owner_client)))
    assert Office.objects.filter(account=account, name="New Smiles").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_token_add_one_office(owner, account):
    creation_token = form_token_read(form_token_new(owner), owner)
    outcomes: list[str] = []

    def create() -> None:
        try:
            offices.office_create(
                account=account, actor=owner, name="Race", time_zone="UTC",
                creation_token=creation_token,
            )  # fmt: skip
            outcomes.append("created")
        except offices.OfficeAlreadyCreated:
            outcomes.append("already")
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already", "already", "created"]
    assert Office.objects.filter(name="Race").count() == 1
