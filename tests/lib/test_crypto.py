import pytest
from cryptography.fernet import Fernet

from odportal.lib import crypto


def test_encrypt_round_trip_and_ciphertext_hides_plaintext(settings):
    token = crypto.encrypt("VzkmZEaUWOjnQX2z")
    assert "VzkmZEaUWOjnQX2z" not in token
    assert crypto.decrypt(token) == "VzkmZEaUWOjnQX2z"


def test_rotation_with_two_keys_then_dropping_the_old_one(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("AbCdEfGh12345678")
    settings.ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(token) == "AbCdEfGh12345678"  # old ciphertext still readable
    rotated = crypto.rotate(token)
    settings.ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "AbCdEfGh12345678"
    with pytest.raises(crypto.InvalidToken):  # the old ciphertext needs the old key
        crypto.decrypt(token)


def test_key_hash_is_keyed_and_stable(settings):
    a = crypto.key_hash("AbCdEfGh12345678")
    assert a == crypto.key_hash("AbCdEfGh12345678")
    settings.KEY_HASH_SECRET = "another-secret"
    assert crypto.key_hash("AbCdEfGh12345678") != a
