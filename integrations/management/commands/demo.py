"""``manage.py demo``: migrate, seed, and serve the whole product on embedded defaults."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from integrations.services import demo


class Command(BaseCommand):
    help = "Run odportal with demo data on http://127.0.0.1:8000 (development only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="Seed, then exit.")

    def handle(self, *args, addr: str, no_serve: bool, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "The demo creates a known login (demo/demo); it refuses to run with DEBUG off."
            )
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        user = demo.demo_user_ensure()
        demo.demo_account_ensure(user=user, base_url="https://api.opendental.com/api/v1")
        self.stdout.write(self.style.SUCCESS(f"odportal demo: http://{addr}/  login: demo / demo"))
        if not no_serve:
            call_command("runserver", addr, use_reloader=False)
