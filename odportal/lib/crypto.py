"""Encryption of developer, portal and customer keys at rest.

MultiFernet: the first key in ``ODPORTAL_ENCRYPTION_KEYS`` encrypts, every key decrypts, so keys
rotate by prepending a new one and running ``manage.py rotate_encryption_keys``. Uniqueness uses
a keyed hash (HMAC-SHA256) so equal keys can be found without decrypting every row; its secret
rotates the same way (``ODPORTAL_KEY_HASH_SECRET=NEW,OLD``, then the same command re-hashes).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


@cache
@sensitive_variables()  # the encryption keys themselves
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    """The MultiFernet for the configured keys (cached per key list, so settings overrides work)."""
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    """Encrypt with the first configured key."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` if none fits."""
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the first key (no-op in meaning, new ciphertext)."""
    return fernet().rotate(token.encode()).decode()


@sensitive_variables("plaintext")
def key_hash(plaintext: str) -> str:
    """Keyed hash of a secret (current hash secret), for uniqueness checks without decryption."""
    return _hmac(settings.KEY_HASH_SECRET, plaintext)


@sensitive_variables("plaintext", "secrets")
def key_hashes(plaintext: str) -> list[str]:
    """The secret's hash under the current and every previous hash secret (for lookups while
    ``rotate_encryption_keys`` has not yet re-hashed every stored key)."""
    secrets = [settings.KEY_HASH_SECRET, *settings.KEY_HASH_PREVIOUS_SECRETS]
    return [_hmac(secret, plaintext) for secret in secrets]


@sensitive_variables("secret", "plaintext")
def _hmac(secret: str, plaintext: str) -> str:
    return hmac.new(secret.encode(), plaintext.encode(), hashlib.sha256).hexdigest()


@sensitive_variables("plaintext")
def last4(plaintext: str) -> str:
    """The only part of a key ever shown."""
    return plaintext[-4:]


__all__ = [
    "InvalidToken", "decrypt", "encrypt", "fernet", "key_hash", "key_hashes", "last4", "rotate",
]  # fmt: skip
