"""Commands that start helper processes: let ``kill`` and hang-ups clean up too."""

from __future__ import annotations

import signal


def exit_through_cleanup_on_termination() -> None:
    """SIGTERM and SIGHUP raise SystemExit, so ``finally`` blocks run as they do for Ctrl-C.

    By default these signals end the process at once, and the helpers it started (sandbox,
    Celery worker and beat) keep running: a stray worker would keep polling beside the next
    run, with whatever code it started with.
    """

    def leave(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)
