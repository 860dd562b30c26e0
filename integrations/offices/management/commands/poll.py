"""``manage.py poll``: queue a poll of one office or all, optionally wait and print outcomes."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.offices.models import Office, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import dispatch
from integrations.offices.services.polling.sweep import offices_pollable


class Command(BaseCommand):
    help = "Queue a health poll (or aging refresh) for one office or every pollable office."

    def add_arguments(self, parser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--office", help="Office public id (UUID) or exact name.")
        target.add_argument("--all", action="store_true", help="Every pollable office.")
        parser.add_argument("--kind", choices=[k.value for k in PollKind], default="health")
        parser.add_argument("--wait", action="store_true", help="Wait for the runs to finish.")
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args, office: str | None, all: bool, kind: str, wait: bool, timeout: float,
               **options) -> None:  # fmt: skip
        offices = list(offices_pollable().distinct()) if all else [self._office(office)]
        if all and kind == PollKind.AGING:  # as the sweep sends them: in batches
            queued = self._queue_batches(offices)
        else:
            queued = self._queue_each(offices, kind)
        if wait:
            self._wait(queued, timeout)

    def _queue_batches(self, offices: list[Office]) -> list[int]:
        counts = {PollKind.AGING: 0, "failed": 0}
        run_ids, broker_down = dispatch.polls_queue(offices, PollKind.AGING, counts=counts)
        if broker_down:
            raise CommandError("Workers unavailable: the broker is not reachable.")
        busy = len(offices) - len(run_ids) - counts["failed"]
        line = f"{len(run_ids)} aging refreshes queued ({settings.AGING_BATCH_SIZE} offices a task)"
        line += f", {busy} already queued or running"
        if counts["failed"]:
            line += f", {counts['failed']} could not be queued (see the log)"
        self.stdout.write(line)
        return run_ids

    def _queue_each(self, offices: list[Office], kind: str) -> list[int]:
        queued = []
        for item in offices:
            try:
                run, created = dispatch.poll_enqueue(office=item, kind=kind)
            except dispatch.WorkersUnavailable as exc:
                raise CommandError(
                    f"Workers unavailable: the broker is not reachable ({exc})."
                ) from None
            queued.append(run.pk)
            note = "queued" if created else "already queued or running"
            self.stdout.write(f"{item.name}: {kind} poll {note} (run {run.public_id})")
        return queued

    def _office(self, ident: str) -> Office:
        office = Office.objects.filter(name=ident).first()
        if office is None:
            try:
                office = Office.objects.filter(public_id=ident).first()
            except Exception:  # not a UUID
                office = None
        if office is None:
            raise CommandError(f"No office with id or name {ident!r}.")
        return office

    def _wait(self, run_ids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(run_ids)
        while pending and time.monotonic() < deadline:
            active = RunOutcome.QUEUED, RunOutcome.RUNNING
            for run in PollRun.objects.filter(pk__in=pending).select_related("office"):
                if run.outcome not in active:
                    pending.discard(run.pk)
                    run.office.refresh_from_db()
                    status = run.office.get_status_display()
                    line = f"{run.office.name}: {run.outcome} · status {status}"
                    line += f" · {run.requests} requests, {run.rows} rows"
                    self.stdout.write(line + (f" · {run.error}" if run.error else ""))
            time.sleep(0.5)
        if pending:
            raise CommandError(f"{len(pending)} run(s) still unfinished after {timeout:.0f}s.")
