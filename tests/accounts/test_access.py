from django.urls import reverse

from integrations.offices.services import keys
from tests.factories import random_key


def test_pages_require_login(client, office):
    for url in (reverse("overview"), reverse("office_detail", args=[office.public_id])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_login_page_is_public(client, db):
    assert client.get(reverse("login")).status_code == 200


def test_owner_and_teammate_see_the_office_outsider_gets_404(
    client, office, owner, teammate, outsider
):
    url = reverse("office_detail", args=[office.public_id])
    for user in (owner, teammate):
        client.force_login(user)
        assert client.get(url).status_code == 200
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_office_list_lists_only_own_offices_and_shows_key_last4_only(
    client, office, owner, outsider
):
    plaintext = random_key()
    keys.customer_key_add(office=office, key=plaintext, actor=owner)
    client.force_login(owner)
    body = client.get(reverse("office_list")).content.decode()
    assert office.name in body and plaintext[-4:] in body and plaintext not in body
    client.force_login(outsider)
    assert office.name not in client.get(reverse("office_list")).content.decode()
