"""``manage.py bench fleet|refresh|health|day|ingest|pages|alerts|notify|events|sandbox-build``:
the last output line is the figures.

See docs/benchmarks.md for what each one measures and the figures of the reference machine.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.devtools.bench import common
from integrations.devtools.termination import exit_through_cleanup_on_termination


class Command(BaseCommand):
    help = "Benchmarks: progress lines, then the figures as one JSON object on the last line."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="benchmark", required=True)
        fleet = sub.add_parser("fleet", help="One aging refresh of N offices through workers.")
        fleet.add_argument("--offices", type=int, required=True)
        fleet.add_argument("--guarantors", type=int, required=True)
        fleet.add_argument("--interval-s", type=float, default=1.0,
                           help="Throttle interval of paid keys (Open Dental: 1 s)")  # fmt: skip
        fleet.add_argument("--latency-ms", type=int, default=0)
        fleet.add_argument("--concurrency", type=int, default=None,
                           help="Threads per worker (default: its offices, <= 64)")  # fmt: skip
        fleet.add_argument("--workers", type=int, default=1,
                           help="Worker processes (sharing broker and pacer)")  # fmt: skip
        fleet.add_argument("--timeout-s", type=float, default=1800.0)
        fleet.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        refresh = sub.add_parser(
            "refresh", help="Worker CPU of an aging refresh, phase by phase (in-process)."
        )
        refresh.add_argument("--offices", type=int, default=100)
        refresh.add_argument("--guarantors", type=int, default=500)
        refresh.add_argument("--interval-s", type=float, default=0.002,
                             help="Paid keys' interval (the pacer adds its margin)")  # fmt: skip
        refresh.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        health = sub.add_parser(
            "health", help="Worker CPU of a health poll: single vs batch, full vs liveness."
        )
        health.add_argument("--offices", type=int, default=200)
        health.add_argument("--batch-size", type=int, default=200)
        health.add_argument("--interval-s", type=float, default=0.002,
                            help="Paid keys' interval (the pacer adds its margin)")  # fmt: skip
        health.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        day = sub.add_parser(
            "day",
            help="A window of a fleet's day (compressed with --speed) through real worker "
            "and beat.",
        )
        day.add_argument("--offices", type=int, default=10_000)
        day.add_argument("--speed", type=int, default=1,
                         help="Every interval divided by this (must divide 300)")  # fmt: skip
        day.add_argument("--hours", type=float, default=0.2,
                         help="Simulated hours (wall: hours x 3600 / speed)")  # fmt: skip
        day.add_argument("--guarantors", type=int, default=150,
                         help="The median office (sizes spread around it)")  # fmt: skip
        day.add_argument("--fault-fraction", type=float, default=0.02)
        day.add_argument("--concurrency", type=int, default=16, help="Worker threads")
        day.add_argument("--workers", type=int, default=1, help="Worker processes")
        day.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        ingest = sub.add_parser("ingest", help="ShortQuery pages into snapshot rows vs COPY.")
        ingest.add_argument("--rows", type=int, default=50_000)
        ingest.add_argument("--repeat", type=int, default=3, help="Rounds; the best one counts.")
        pages = sub.add_parser("pages", help="Server time of the pages over a seeded fleet.")
        pages.add_argument("--offices", type=int, default=10_000)
        pages.add_argument("--guarantors", type=int, default=100_000,
                           help="Guarantors in the big office's current snapshot")  # fmt: skip
        pages.add_argument("--requests", type=int, default=40, help="Timed requests per page")
        pages.add_argument("--warmup", type=int, default=5)
        pages.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        alerts = sub.add_parser("alerts", help="CPU of evaluating incidents per sweep.")
        alerts.add_argument("--offices", type=int, default=10_000)
        alerts.add_argument("--rounds", type=int, default=5, help="Steady rounds (median)")
        alerts.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        notify = sub.add_parser("notify", help="Fault to delivered notification, real worker.")
        notify.add_argument("--offices", type=int, default=1000)
        notify.add_argument("--faults", type=int, default=5)
        notify.add_argument("--interval-s", type=int, default=300, help="Health interval")
        notify.add_argument("--sweep-s", type=int, default=60, help="Sweep interval (beat)")
        notify.add_argument("--keep", action="store_true", help="Keep the benchmark's rows.")
        ev = sub.add_parser("events", help="The API Events receiving URL, 1,000-row batches.")
        ev.add_argument("--batches", type=int, default=30)
        ev.add_argument("--rows", type=int, default=1000)
        ev.add_argument("--warmup", type=int, default=2)
        build = sub.add_parser("sandbox-build", help="Generation time of one sandbox office.")
        build.add_argument("--patients", type=int, default=100_000)
        build.add_argument("--clinics", type=int, default=3)
        build.add_argument("--repeat", type=int, default=1, help="Rounds; the best one counts.")

    def handle(self, *args, benchmark: str, **options) -> None:
        exit_through_cleanup_on_termination()  # the sandbox and worker are stopped on kill too
        try:
            figures = self._run(benchmark, options)
        except RuntimeError as exc:
            raise CommandError(f"bench {benchmark}: {exc}") from exc
        self.stdout.write(common.figures_line(figures))
        if figures.get("verified") is False:
            raise CommandError(f"bench {benchmark}: verification failed (see above).")

    def _run(self, benchmark: str, options: dict) -> dict:
        if benchmark == "fleet":
            if options["workers"] < 1:
                raise RuntimeError("--workers must be at least 1")
            from integrations.devtools.bench.fleet import FleetOptions, fleet_run

            fleet = FleetOptions(
                offices=options["offices"], guarantors=options["guarantors"],
                interval_s=options["interval_s"], latency_ms=options["latency_ms"],
                concurrency=options["concurrency"], workers=options["workers"],
                timeout_s=options["timeout_s"],
                keep=options["keep"],
            )  # fmt: skip
            return fleet_run(fleet, self._say)
        if benchmark == "refresh":
            from integrations.devtools.bench.refresh import RefreshOptions, refresh_run

            refresh = RefreshOptions(
                offices=options["offices"], guarantors=options["guarantors"],
                interval_s=options["interval_s"], keep=options["keep"],
            )  # fmt: skip
            return refresh_run(refresh, self._say)
        if benchmark == "health":
            from integrations.devtools.bench.health import HealthOptions, health_run

            return health_run(
                HealthOptions(
                    offices=options["offices"],
                    batch_size=options["batch_size"],
                    interval_s=options["interval_s"],
                    keep=options["keep"],
                ),  # fmt: skip
                self._say,
            )
        if benchmark == "day":
            from integrations.devtools.bench.day import DayOptions, day_run

            day = DayOptions(
                offices=options["offices"], speed=options["speed"], hours=options["hours"],
                guarantors=options["guarantors"], fault_fraction=options["fault_fraction"],
                concurrency=options["concurrency"], workers=options["workers"],
                keep=options["keep"],
            )  # fmt: skip
            return day_run(day, self._say)
        if benchmark == "pages":
            from integrations.devtools.bench.pages import PagesOptions, pages_run

            pages = PagesOptions(
                offices=options["offices"], guarantors=options["guarantors"],
                requests=options["requests"], warmup=options["warmup"], keep=options["keep"],
            )  # fmt: skip
            return pages_run(pages, self._say)
        if benchmark == "alerts":
            from integrations.devtools.bench.alerts import AlertsOptions, alerts_run

            return alerts_run(
                AlertsOptions(options["offices"], options["rounds"], options["keep"]), self._say
            )
        if benchmark == "notify":
            from integrations.devtools.bench.notify import NotifyOptions, notify_run

            return notify_run(
                NotifyOptions(offices=options["offices"], faults=options["faults"],
                              interval_s=options["interval_s"], sweep_s=options["sweep_s"],
                              keep=options["keep"]),
                self._say,
            )  # fmt: skip
        if benchmark == "events":
            from integrations.devtools.bench.events import EventsOptions, events_run

            return events_run(
                EventsOptions(options["batches"], options["rows"], options["warmup"]), self._say
            )
        if benchmark == "sandbox-build":
            from integrations.devtools.bench.sandbox_build import sandbox_build_run

            return sandbox_build_run(
                options["patients"], options["clinics"], self._say, repeat=options["repeat"]
            )
        from integrations.devtools.bench.ingest import ingest_run

        return ingest_run(options["rows"], self._say, repeat=options["repeat"])

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
