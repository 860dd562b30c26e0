"""Re-encrypt every stored secret under the first key of ODPORTAL_ENCRYPTION_KEYS, and re-hash
every customer key under the first ODPORTAL_KEY_HASH_SECRET.

Rotation (either setting): prepend a new value (``NEW,OLD``), deploy, run this command, then
drop ``OLD``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.offices.services import secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt developer, portal and customer keys under the first encryption key and "
        "re-hash customer keys under the first key-hash secret."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=secrets.DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count; change nothing."
        )

    def handle(self, *args, batch_size: int, dry_run: bool, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            result = secrets.secrets_rotate(batch_size=batch_size, dry_run=dry_run)
        except secrets.UndecryptableSecrets as exc:
            lines = [str(exc), *(f"  {row}" for row in exc.unreadable)]
            lines.append(
                "Add the key these were encrypted with to ODPORTAL_ENCRYPTION_KEYS "
                "(after the first) and run again."
            )
            raise CommandError("\n".join(lines)) from None
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        for name, count in result.rotated.items():
            current = result.current[name]
            self.stdout.write(f"{name}: {verb} {count}, already current {current}")
        hash_verb = "would re-hash" if dry_run else "re-hashed"
        self.stdout.write(
            f"CustomerKey.key_hash: {hash_verb} {result.rehashed}, "
            f"already current {result.hash_current}"
        )
        summary = f"Done: {verb} {result.total_rotated} secret(s), {hash_verb} {result.rehashed}."
        self.stdout.write(self.style.SUCCESS(summary))
