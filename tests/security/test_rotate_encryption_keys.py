"""`manage.py rotate_encryption_keys`: everything re-encrypted under the first key, in batches,
idempotent; an undecryptable row stops it before anything changes, naming the row only."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, JobState
from integrations.offices.services import imports, keys
from odportal.lib import crypto
from tests.factories import OfficeFactory, random_key

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture
def secrets_under_a(settings, owner, account):
    """Two accounts (dev + portal keys) and seven customer keys, all encrypted with key A."""
    settings.ENCRYPTION_KEYS = [KEY_A]
    plain = {"dev": random_key(), "portal": random_key(), "customer": []}
    accounts.developer_account_update(
        account=account, actor=owner, developer_key=plain["dev"], portal_key=plain["portal"]
    )
    second = accounts.developer_account_create(
        actor=owner,
        developer_key=random_key(),
        company_name="Second",
        contact_phone="1",
        billing_email="b@example.com",
        billing_address="x",
        app_description="y",
        dev_name="Second",
    )
    for i in range(7):
        office = OfficeFactory(account=account if i % 2 else second)
        key = random_key()
        keys.customer_key_add(office=office, key=key, actor=owner)
        plain["customer"].append(key)
    return plain


def _all_tokens() -> list[str]:
    tokens = list(CustomerKey.objects.values_list("key_encrypted", flat=True))
    for dev, portal in DeveloperAccount.objects.values_list(
        "developer_key_encrypted", "portal_key_encrypted"
    ):
        tokens += [t for t in (dev, portal) if t]
    return tokens


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_moves_every_secret_to_the_new_key_so_the_old_one_can_go(
    settings, secrets_under_a, account
):
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = _rotate("--batch-size", "3")
    assert "CustomerKey.key_encrypted: re-encrypted 7, already current 0" in out
    assert "DeveloperAccount.developer_key_encrypted: re-encrypted 2" in out
    assert "DeveloperAccount.portal_key_encrypted: re-encrypted 1" in out
    assert "re-encrypted 10 secret(s)" in out

    settings.ENCRYPTION_KEYS = [KEY_B]  # key A retired
    account.refresh_from_db()
    assert accounts.developer_key_plaintext(account) == secrets_under_a["dev"]
    assert crypto.decrypt(account.portal_key_encrypted) == secrets_under_a["portal"]
    stored = {keys.customer_key_plaintext(k) for k in CustomerKey.objects.all()}
    assert stored == set(secrets_under_a["customer"])
    for token in _all_tokens():
        Fernet(KEY_B.encode()).decrypt(token.encode())  # raises if not under B


def test_an_import_waiting_for_a_worker_survives_the_old_key_being_dropped(
    settings, owner, account
):
    settings.ENCRYPTION_KEYS = [KEY_A]
    key = random_key()
    source = f"name,customer_key\nWaiting Clinic,{key}\n"
    job = imports.import_job_create(account=account, actor=owner, source=source, send=False)
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert "ImportJob.payload_encrypted: re-encrypted 1, already current 0" in _rotate()
    settings.ENCRYPTION_KEYS = [KEY_B]  # key A retired while the job still waits
    imports.import_job_run(job.pk, claimer="after-rotation")
    job.refresh_from_db()
    assert (job.state, job.created) == (JobState.DONE, 1)
    assert keys.customer_key_plaintext(CustomerKey.objects.get()) == key


def test_the_keyed_hash_stays_valid_after_rotation(settings, secrets_under_a):
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    _rotate()
    settings.ENCRYPTION_KEYS = [KEY_B]
    for key in CustomerKey.objects.all():
        assert key.key_hash == crypto.key_hash(keys.customer_key_plaintext(key))
    office = OfficeFactory()
    with pytest.raises(Exception, match="already registered"):
        keys.customer_key_add(office=office, key=secrets_under_a["customer"][0], actor=None)


def test_rotating_the_hash_secret_rehashes_every_key_and_never_misses_a_duplicate(
    settings, secrets_under_a
):
    office = OfficeFactory()
    old = settings.KEY_HASH_SECRET
    settings.KEY_HASH_SECRET, settings.KEY_HASH_PREVIOUS_SECRETS = "a-new-hash-secret", [old]
    # Deployed with NEW,OLD but not yet re-hashed: keys hashed under OLD are still found.
    with pytest.raises(ValidationError, match="already registered"):
        keys.customer_key_add(office=office, key=secrets_under_a["customer"][0], actor=None)
    assert "CustomerKey.key_hash: would re-hash 7, already current 0" in _rotate("--dry-run")
    out = _rotate()
    assert "CustomerKey.key_hash: re-hashed 7, already current 0" in out
    assert "re-encrypted 0 secret(s), re-hashed 7" in out  # the encryption key did not change

    settings.KEY_HASH_PREVIOUS_SECRETS = []  # OLD retired
    for key in CustomerKey.objects.all():
        assert key.key_hash == crypto.key_hash(keys.customer_key_plaintext(key))
    with pytest.raises(ValidationError, match="already registered"):
        keys.customer_key_add(office=office, key=secrets_under_a["customer"][1], actor=None)
    assert "re-hashed 0, already current 7" in _rotate()


def test_a_second_run_changes_nothing(settings, secrets_under_a):
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    _rotate()
    tokens = sorted(_all_tokens())
    out = _rotate()
    assert "re-encrypted 0 secret(s)" in out
    assert "CustomerKey.key_encrypted: re-encrypted 0, already current 7" in out
    assert sorted(_all_tokens()) == tokens


def test_dry_run_counts_but_writes_nothing(settings, secrets_under_a):
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    tokens = sorted(_all_tokens())
    out = _rotate("--dry-run")
    assert "would re-encrypt 10 secret(s)" in out
    assert sorted(_all_tokens()) == tokens


def test_an_undecryptable_row_stops_rotation_before_any_change_naming_only_the_row(
    settings, secrets_under_a
):
    unknown = Fernet.generate_key()
    bad = CustomerKey.objects.first()
    bad.key_encrypted = Fernet(unknown).encrypt(b"SecretKeyAbcd123").decode()
    bad.save()
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    tokens = sorted(_all_tokens())
    with pytest.raises(CommandError) as raised:
        _rotate()
    message = str(raised.value)
    assert f"CustomerKey {bad.public_id}: customer key" in message
    assert "nothing was changed" in message and "ODPORTAL_ENCRYPTION_KEYS" in message
    assert "SecretKeyAbcd123" not in message and bad.key_encrypted not in message
    for plain in secrets_under_a["customer"]:
        assert plain not in message
    assert sorted(_all_tokens()) == tokens


def test_rotation_with_nothing_stored_reports_zero(db, settings):
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert "re-encrypted 0 secret(s)" in _rotate()


def test_the_command_refuses_a_batch_size_below_one(db):
    with pytest.raises(CommandError, match="batch-size"):
        _rotate("--batch-size", "0")
