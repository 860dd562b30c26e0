"""The watchers: a thread in each worker's main process writes its heartbeat every
``WORKER_HEARTBEAT_S`` (a clean shutdown removes it), and in each worker and in the beat
another thread watches the deployment (queue depth, its own incident: ``services.deployment``).
Two threads, so a slow SMTP server or webhook never holds up the heartbeat."""

from __future__ import annotations

import logging
import threading

from celery.signals import beat_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(hostname: str) -> None:
    from integrations.alerts.services.heartbeats import WORKER_PREFIX, heartbeat_write

    while not _stop.is_set():
        try:
            close_old_connections()
            heartbeat_write(name=WORKER_PREFIX + hostname, now=timezone.now())
        except Exception:  # noqa: BLE001 - a database blip must not kill the heartbeat
            logger.warning("worker heartbeat not written", exc_info=True)
        _stop.wait(settings.WORKER_HEARTBEAT_S)


def _watch() -> None:
    from integrations.alerts.services.deployment import deployment_watch

    started = timezone.now()
    while not _stop.wait(settings.WORKER_HEARTBEAT_S):
        try:
            close_old_connections()
            deployment_watch(now=timezone.now(), watching_since=started)
        except Exception:  # noqa: BLE001 - nor a failing watch
            logger.warning("deployment not watched", exc_info=True)


def _thread(target, *args) -> None:
    threading.Thread(target=target, args=args, name=f"odportal-{target.__name__.strip('_')}",
                     daemon=True).start()  # fmt: skip


@worker_ready.connect
def _start(sender=None, **_: object) -> None:
    _stop.clear()
    _thread(_beat, getattr(sender, "hostname", "worker"))
    _thread(_watch)


@beat_init.connect
def _start_beat_watch(sender=None, **_: object) -> None:
    """The beat watches too: with every worker stopped, it is what opens the incident."""
    _stop.clear()
    _thread(_watch)


@worker_shutdown.connect
def _shutdown(sender=None, **_: object) -> None:
    from integrations.alerts.services.heartbeats import worker_heartbeat_remove

    _stop.set()
    try:
        worker_heartbeat_remove(hostname=getattr(sender, "hostname", "worker"))
    except Exception:  # noqa: BLE001
        logger.warning("worker heartbeat not removed", exc_info=True)
