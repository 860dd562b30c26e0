import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from integrations.accounts.models import AuditEvent
from integrations.offices.models import CustomerKey, KeyStatus
from integrations.offices.services import keys
from tests.factories import OfficeFactory, random_key


def test_add_key_encrypts_and_audits_without_the_key(office, owner):
    plaintext = random_key()
    key = keys.customer_key_add(office=office, key=plaintext, actor=owner)
    assert key.last4 == plaintext[-4:]
    assert key.is_current and key.status == KeyStatus.ENABLED
    with connection.cursor() as cur:
        cur.execute(
            "SELECT key_encrypted, key_hash FROM offices_customerkey WHERE id = %s", [key.pk]
        )
        raw_encrypted, raw_hash = cur.fetchone()
    assert plaintext not in raw_encrypted and plaintext not in raw_hash
    assert keys.customer_key_plaintext(key) == plaintext
    event = AuditEvent.objects.get(action="key.add")
    assert event.actor == owner
    assert plaintext not in str(event.detail) and plaintext not in event.object_repr


@pytest.mark.parametrize(
    "bad",
    ["", "short", "VzkmZEaUWOjnQX2z!", "VzkmZEaUWOjnQX2zz", "Vzkm ZEaUWOjnQX2", "ÄzkmZEaUWOjnQX2z"],
)
def test_add_key_rejects_anything_but_16_letters_and_digits(office, owner, bad):
    with pytest.raises(ValidationError) as exc:
        keys.customer_key_add(office=office, key=bad, actor=owner)
    assert "customer_key" in exc.value.message_dict
    assert CustomerKey.objects.count() == 0


def test_same_key_cannot_be_added_twice_even_to_another_office(office, owner):
    plaintext = random_key()
    keys.customer_key_add(office=office, key=plaintext, actor=owner)
    other = OfficeFactory(account=office.account)
    with pytest.raises(ValidationError, match="already registered"):
        keys.customer_key_add(office=other, key=plaintext, actor=owner)


def test_adding_a_second_key_retires_and_disables_the_first(office, owner):
    first = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    second = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    first.refresh_from_db()
    assert not first.is_current and first.status == KeyStatus.DISABLED_BY_DEVELOPER
    assert second.is_current


def test_disable_then_enable_records_times_actor_and_audit(office, owner):
    key = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    keys.customer_key_disable(key=key, actor=owner, reason="office cancelled")
    key.refresh_from_db()
    assert key.status == KeyStatus.DISABLED_BY_DEVELOPER and key.disabled_at is not None
    with pytest.raises(ValidationError, match="already disabled"):
        keys.customer_key_disable(key=key, actor=owner)
    keys.customer_key_enable(key=key, actor=owner, reason="back")
    key.refresh_from_db()
    assert key.status == KeyStatus.ENABLED and key.changed_by == owner
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["key.disable", "key.enable"]
    assert AuditEvent.objects.get(action="key.disable").detail["reason"] == "office cancelled"


def test_rotate_replaces_the_key_and_keeps_the_old_one_disabled(office, owner):
    old = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    new = keys.customer_key_rotate(key=old, new_key=random_key(), actor=owner)
    old.refresh_from_db()
    assert new.is_current and not old.is_current
    assert old.status == KeyStatus.DISABLED_BY_DEVELOPER
    assert CustomerKey.objects.filter(office=office).count() == 2  # never deleted


def test_rotate_with_invalid_new_key_changes_nothing(office, owner):
    old = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    with pytest.raises(ValidationError):
        keys.customer_key_rotate(key=old, new_key="nope", actor=owner)
    old.refresh_from_db()
    assert old.is_current and old.status == KeyStatus.ENABLED


def test_move_is_pending_for_fifteen_minutes(office, owner):
    key = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    target = OfficeFactory(account=office.account)
    moved = keys.customer_key_move(key=key, to_office=target, actor=owner)
    assert moved.office == target and moved.status == KeyStatus.PENDING_MOVE
    now = timezone.now()
    assert moved.effective_status(now) == KeyStatus.PENDING_MOVE
    assert moved.effective_status(now + timezone.timedelta(minutes=16)) == KeyStatus.ENABLED


def test_move_to_an_office_of_another_account_is_refused(office, owner):
    key = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    with pytest.raises(ValidationError):
        keys.customer_key_move(key=key, to_office=OfficeFactory(), actor=owner)
