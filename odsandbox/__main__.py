"""Command line: ``python -m odsandbox --offices 3 --port 8765 --manifest sandbox.json``."""

from __future__ import annotations

import argparse
import json
import sys

from odsandbox.config import OVER_LIMIT_CHOICES, SandboxConfig
from odsandbox.state import SandboxState
from odsandbox.testing import bind_socket, make_server, url_for


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """CLI options (see CONTRACT-sandbox-client.md)."""
    p = argparse.ArgumentParser(prog="odsandbox", description="Local fake Open Dental API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--offices", type=int, default=3)
    p.add_argument("--guarantors-per-office", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--throttle-scale", type=float, default=1.0)
    p.add_argument("--over-limit", choices=OVER_LIMIT_CHOICES, default="429")
    p.add_argument("--page-cap", type=int, default=100)
    p.add_argument("--report-latency-ms", type=int, default=250)
    p.add_argument("--request-timeout-s", type=float, default=60.0)
    p.add_argument(
        "--portal-propagation-s",
        type=float,
        default=0.0,
        help="seconds before a Developer Portal status change reaches customer calls",
    )
    p.add_argument(
        "--allow-charset", action="store_true", help="accept 'application/json; charset=utf-8' too"
    )
    p.add_argument("--control", action="store_true", help="mount the /_sandbox control API")
    p.add_argument("--data-dir", default=None, help="keep office SQLite files here (cached)")
    p.add_argument("--manifest", default=None, help="write keys and offices as JSON here")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Map CLI options onto SandboxConfig."""
    return SandboxConfig(
        offices=args.offices,
        guarantors_per_office=args.guarantors_per_office,
        seed=args.seed,
        latency_ms=args.latency_ms,
        throttle_scale=args.throttle_scale,
        over_limit=args.over_limit,
        page_cap=args.page_cap,
        control=args.control,
        data_dir=args.data_dir,
        request_timeout_s=args.request_timeout_s,
        strict_content_type=not args.allow_charset,
        report_latency_ms=args.report_latency_ms,
        portal_propagation_s=args.portal_propagation_s,
    )


def main(argv: list[str] | None = None) -> None:
    """Bind, write the manifest, print the base URL, then serve until interrupted."""
    args = parse_args(argv)
    # The event loop stamps each request's arrival for the throttle; with query threads busy
    # it waits for the GIL, by default up to 5 ms per hand-over. Hand over sooner.
    sys.setswitchinterval(0.0005)
    config = config_from_args(args)
    state = SandboxState(config)
    sock = bind_socket(args.host, args.port)
    base_url = f"{url_for(args.host, sock)}/api/v1"
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as fh:
            json.dump(state.manifest(base_url), fh, indent=2)
    print(base_url, flush=True)
    try:
        make_server(config, state).run(sockets=[sock])
    finally:
        state.close()


if __name__ == "__main__":
    main(sys.argv[1:])
