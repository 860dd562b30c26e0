"""Encryption-key rotation: re-encrypt every stored secret under the first configured key, and
re-hash every customer key under the current ``ODPORTAL_KEY_HASH_SECRET``.

Rotation is two-phase so it never leaves a half-rotated mess behind an unreadable row: first
every secret is checked against the configured keys (nothing is written if one fails), then rows
are re-encrypted in batches, each batch in its own transaction. A value already readable with the
first key is left alone, so a second run changes nothing. Plaintexts exist only in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models, transaction

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import CustomerKey, ImportJob
from odportal.lib import crypto

logger = logging.getLogger(__name__)

# (model, encrypted column, label for reports); add new secret columns here.
SECRET_COLUMNS: tuple[tuple[type[models.Model], str, str], ...] = (
    (DeveloperAccount, "developer_key_encrypted", "developer key"),
    (DeveloperAccount, "portal_key_encrypted", "Developer Portal key"),
    (CustomerKey, "key_encrypted", "customer key"),
    # An import's uploaded rows, held only until the job ends (they contain customer keys).
    (ImportJob, "payload_encrypted", "import upload"),
)
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class UnreadableSecret:
    """A stored secret no configured key decrypts; names the row, never the value."""

    model: str
    public_id: str
    column: str
    label: str

    def __str__(self) -> str:
        return f"{self.model} {self.public_id}: {self.label} ({self.column})"


class UndecryptableSecrets(Exception):
    """Some secrets cannot be decrypted with any configured key; nothing was rotated."""

    def __init__(self, unreadable: list[UnreadableSecret]) -> None:
        self.unreadable = unreadable
        super().__init__(
            f"{len(unreadable)} stored secret(s) cannot be decrypted with any key in "
            "ODPORTAL_ENCRYPTION_KEYS; nothing was changed."
        )


@dataclass
class RotationResult:
    """Counts per secret column: re-encrypted now, and already under the first key."""

    rotated: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    # Customer-key hashes recomputed under the current ODPORTAL_KEY_HASH_SECRET, and already so.
    rehashed: int = 0
    hash_current: int = 0

    @property
    def total_rotated(self) -> int:
        return sum(self.rotated.values())


def _primary() -> Fernet:
    return Fernet(settings.ENCRYPTION_KEYS[0].encode())


def _is_current(token: str) -> bool:
    try:
        _primary().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _readable(token: str) -> bool:
    try:
        crypto.decrypt(token)
    except InvalidToken:
        return False
    return True


def _with_secret(model: type[models.Model], column: str) -> models.QuerySet:
    return model._default_manager.exclude(**{column: ""}).order_by("pk")


def _pk_batches(model: type[models.Model], column: str, size: int) -> Iterator[list[int]]:
    pks = list(_with_secret(model, column).values_list("pk", flat=True))
    for start in range(0, len(pks), size):
        yield pks[start : start + size]


def secrets_unreadable() -> list[UnreadableSecret]:
    """Every stored secret that no configured key decrypts (row ids only)."""
    found = []
    for model, column, label in SECRET_COLUMNS:
        rows = _with_secret(model, column).values_list("public_id", column)
        for public_id, token in rows.iterator(chunk_size=DEFAULT_BATCH_SIZE):
            if not _readable(token):
                found.append(UnreadableSecret(model.__name__, str(public_id), column, label))
    return found


def _rotate_batch(model: type[models.Model], column: str, pks: list[int]) -> tuple[int, int]:
    """Re-encrypt one batch under the first key (row-locked); (rotated, already current)."""
    with transaction.atomic():
        rows = list(model._default_manager.select_for_update().filter(pk__in=pks).only(column))
        stale = [r for r in rows if getattr(r, column) and not _is_current(getattr(r, column))]
        for row in stale:
            setattr(row, column, crypto.rotate(getattr(row, column)))
        model._default_manager.bulk_update(stale, [column])
    return len(stale), len(rows) - len(stale)


def _count_batch(model: type[models.Model], column: str, pks: list[int]) -> tuple[int, int]:
    """Dry run of one batch: (would be re-encrypted, already current)."""
    tokens = _with_secret(model, column).filter(pk__in=pks).values_list(column, flat=True)
    stale = sum(1 for token in tokens if not _is_current(token))
    return stale, len(pks) - stale


def _rehash_batch(pks: list[int], *, dry_run: bool) -> tuple[int, int]:
    """Recompute one batch's key hashes under the current hash secret; (changed, current)."""
    with transaction.atomic():
        rows = list(
            CustomerKey.objects.select_for_update()
            .filter(pk__in=pks)
            .only("key_encrypted", "key_hash")
        )
        stale = []
        for row in rows:
            fresh = crypto.key_hash(crypto.decrypt(row.key_encrypted))
            if row.key_hash != fresh:
                row.key_hash = fresh
                stale.append(row)
        if not dry_run:
            CustomerKey.objects.bulk_update(stale, ["key_hash"])
    return len(stale), len(rows) - len(stale)


def secrets_rotate(
    *, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> RotationResult:
    """Re-encrypt every secret under the first key and re-hash every customer key under the
    current hash secret; raise UndecryptableSecrets, writing nothing, if a secret is unreadable."""
    unreadable = secrets_unreadable()
    if unreadable:
        raise UndecryptableSecrets(unreadable)
    result = RotationResult()
    step = _count_batch if dry_run else _rotate_batch
    for model, column, _label in SECRET_COLUMNS:
        name = f"{model.__name__}.{column}"
        result.rotated[name] = result.current[name] = 0
        for pks in _pk_batches(model, column, batch_size):
            rotated, current = step(model, column, pks)
            result.rotated[name] += rotated
            result.current[name] += current
    for pks in _pk_batches(CustomerKey, "key_encrypted", batch_size):
        changed, current = _rehash_batch(pks, dry_run=dry_run)
        result.rehashed += changed
        result.hash_current += current
    if not dry_run:
        logger.info("key rotation: %s, %d hash(es) recomputed", result.rotated, result.rehashed)
    return result
