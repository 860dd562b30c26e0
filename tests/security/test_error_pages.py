"""Django's error page (DEBUG on) shows no key a view was handling, no encryption key and no
password from DATABASE_URL / REDIS_URL, in its traceback, request data or settings."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.accounts.models import PortalAccess
from odportal.lib.error_reports import mask_url_passwords
from tests.factories import random_key

BROKEN_FERNET_KEY = "not-a-fernet-key-but-configured-as-one"
DB_PASSWORD = "pg-Secret-9911"
REDIS_PASSWORD = "redis-Secret-9922"
DATABASE_URL = f"postgres://odportal:{DB_PASSWORD}@db:5432/odportal"
REDIS_URL = f"redis://:{REDIS_PASSWORD}@redis:6379/0"


def _account_details(**keys) -> dict:
    return {
        "company_name": "Acme Dental Apps",
        "contact_phone": "+1 555 0199",
        "billing_email": "billing@acme.example",
        "billing_address": "1 Main St",
        "app_description": "Reminders.",
        "dev_name": "Acme Apps",
        "portal_access": PortalAccess.NOT_REQUESTED,
        **keys,
    }


def _post_key_add(client, secrets, account, office, key):
    url = reverse("office_key_add", args=[office.public_id])
    return client.post(url, {"customer_key": secrets[0]}, DATABASE_URL=DATABASE_URL)


def _post_key_rotate(client, secrets, account, office, key):
    url = reverse("office_key_rotate", args=[office.public_id, key.public_id])
    data = {"customer_key": secrets[0], "reason": "rotating"}
    return client.post(url, data, DATABASE_URL=DATABASE_URL)


def _post_account_create(client, secrets, account, office, key):
    data = _account_details(developer_key=secrets[0], portal_key=secrets[1])
    return client.post(reverse("account_create"), data, DATABASE_URL=DATABASE_URL)


def _post_account_edit(client, secrets, account, office, key):
    url = reverse("account_edit", args=[account.public_id])
    data = _account_details(developer_key=secrets[0], portal_key=secrets[1])
    return client.post(url, data, DATABASE_URL=DATABASE_URL)


def _post_import(client, secrets, account, office, key):
    csv = f"name,customer_key\nImported Office,{secrets[0]}\n".encode()
    upload = SimpleUploadedFile("offices.csv", csv, content_type="text/csv")
    url = reverse("account_import", args=[account.public_id])
    return client.post(url, {"file": upload}, DATABASE_URL=DATABASE_URL)


@pytest.mark.parametrize(
    "post",
    [_post_key_add, _post_key_rotate, _post_account_create, _post_account_edit, _post_import],
    ids=["key add", "key rotate", "account create", "account edit", "import"],
)
def test_an_error_while_handling_a_key_shows_no_key_on_the_debug_page(
    client, settings, owner, account, office, key, post
):
    secrets = [random_key(), random_key()]
    settings.DEBUG = True
    settings.ENCRYPTION_KEYS = [BROKEN_FERNET_KEY]  # encrypting the key fails, deep in a service
    settings.DATABASE_URL = DATABASE_URL
    settings.REDIS_URL = settings.CELERY_BROKER_URL = REDIS_URL
    client.force_login(owner)
    client.raise_request_exception = False
    response = post(client, secrets, account, office, key)
    page = response.content.decode()
    assert response.status_code == 500
    assert "Fernet key must be" in page and "Traceback" in page  # the technical page
    for secret in secrets:
        assert secret not in page and secret[:8] not in page and secret[-8:] not in page
    assert BROKEN_FERNET_KEY not in page
    assert DB_PASSWORD not in page and REDIS_PASSWORD not in page
    assert "postgres://odportal:********@db:5432/odportal" in page  # settings and META, masked
    assert "redis://:********@redis:6379/0" in page


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://od:s3cr3t@db:5432/od", "postgres://od:********@db:5432/od"),
        ("redis://:s3cr3t@redis:6379/0", "redis://:********@redis:6379/0"),
        ("x redis://u:p%40ss@h/1 y pg://u:x@h", "x redis://u:********@h/1 y pg://u:********@h"),
        ("sqlite:///var/odportal.sqlite3", "sqlite:///var/odportal.sqlite3"),
        ("https://odportal.example.com/a:b@c", "https://odportal.example.com/a:b@c"),
        ("postgres://odportal@db/odportal", "postgres://odportal@db/odportal"),
    ],
)
def test_url_passwords_are_masked_and_nothing_else(text, masked):
    assert mask_url_passwords(text) == masked
