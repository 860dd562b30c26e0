"""``manage.py import_offices FILE --account ACCOUNT``: bulk-add offices and keys."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from integrations.accounts.models import DeveloperAccount
from integrations.offices.services.imports import offices_import


class Command(BaseCommand):
    help = (
        "Import offices and customer keys from a CSV file (name, customer_key, api_mode, "
        "base_url, time_zone[, reference, notes]) or a sandbox manifest JSON."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--account", required=True, help="account UUID or company name")
        parser.add_argument("--user", default=None, help="username recorded as the actor")
        parser.add_argument(
            "--base-url", default=None, help="server address for every Service and Local row"
        )
        parser.add_argument(
            "--confirm-host", action="append", default=[], dest="confirm_hosts", metavar="HOST",
            help="send Service and Local rows' keys to this host (host[:port]; repeatable)",
        )  # fmt: skip

    def handle(self, *args, file: Path, account: str, user: str | None, **options) -> None:
        target = _find_account(account)
        actor = _find_user(user) if user else None
        try:
            source = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            result = offices_import(
                account=target,
                actor=actor,
                source=source,
                filename=file.name,
                base_url_override=options.get("base_url"),
                confirmed_hosts=[h.lower() for h in options.get("confirm_hosts") or []],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        for row in result.rows:
            key = f"…{row.key_last4}" if row.key_last4 else "(no valid key)"
            line = f"row {row.number}: {row.outcome:<8} {row.name or '(no name)'} key {key}"
            if row.messages:
                line += " — " + "; ".join(row.messages)
            self.stdout.write(line)
        style = self.style.SUCCESS if not result.rejected else self.style.WARNING
        self.stdout.write(style(f"{target.company_name}: {result.summary}"))
        if result.hosts_to_confirm:
            flags = " ".join(f"--confirm-host {h}" for h in sorted(result.hosts_to_confirm))
            self.stdout.write(f"To send those offices' keys there, run again with {flags}")


def _find_account(value: str) -> DeveloperAccount:
    try:
        return DeveloperAccount.objects.get(public_id=uuid.UUID(value))
    except (ValueError, DeveloperAccount.DoesNotExist):
        pass
    matches = list(DeveloperAccount.objects.filter(company_name__iexact=value)[:2])
    if len(matches) != 1:
        problem = "No" if not matches else "More than one"
        raise CommandError(f"{problem} developer account matches {value!r}; pass its UUID.")
    return matches[0]


def _find_user(username: str):
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None
