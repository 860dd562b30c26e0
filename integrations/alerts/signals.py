"""The worker's heartbeat: a thread in each worker's main process writes it every
``WORKER_HEARTBEAT_S``; a clean shutdown removes it."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
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


@worker_ready.connect
def _start(sender=None, **_: object) -> None:
    hostname = getattr(sender, "hostname", "worker")
    _stop.clear()
    threading.Thread(target=_beat, args=(hostname,), name="odportal-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _shutdown(sender=None, **_: object) -> None:
    from integrations.alerts.services.heartbeats import worker_heartbeat_remove

    _stop.set()
    try:
        worker_heartbeat_remove(hostname=getattr(sender, "hostname", "worker"))
    except Exception:  # noqa: BLE001
        logger.warning("worker heartbeat not removed", exc_info=True)
