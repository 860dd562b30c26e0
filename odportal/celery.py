"""The Celery application; configuration comes from Django settings (CELERY_ namespace)."""

import logging
import os

from celery import Celery, Task
from celery.worker.request import Request
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual as kombu_virtual

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odportal.settings")

logger = logging.getLogger(__name__)


class BrokerLossTolerantRequest(Request):
    """A task request whose late ack survives the broker going away under it.

    kombu's Redis channel raises AttributeError (not a connection error) when a message is
    acked after its connection was lost, and the worker stops with "Unrecoverable error". The
    message then simply stays unacked: the broker delivers it again and the task, claiming
    its run row, finds nothing left to do.
    """

    def acknowledge(self) -> None:
        try:
            super().acknowledge()
        except AttributeError:
            logger.warning("task %s not acked: the broker connection was lost", self.id)
            self.acknowledged = True

    def reject(self, requeue: bool = False) -> None:
        try:
            super().reject(requeue=requeue)
        except AttributeError:
            logger.warning("task %s not rejected: the broker connection was lost", self.id)
            self.acknowledged = True


class OdportalTask(Task):
    Request = BrokerLossTolerantRequest


def _restore_unacked_unless_connection_lost(qos, client=None):
    """kombu's Redis QoS.restore_unacked, except when the connection is already gone.

    Closing a channel whose broker vanished (Redis stopped with acks-late tasks in flight)
    makes kombu put the unacked messages back through that dead connection; it fails with an
    AttributeError and the worker stops ("Unrecoverable error"). Left alone, the messages stay
    in Redis's unacked index and come back after the visibility timeout, and the sweep sends
    stale runs again sooner (``polling.dispatch.runs_resend_stale``), so nothing is lost.
    """
    try:
        return _kombu_restore_unacked(qos, client)
    except AttributeError:
        logger.warning("broker connection lost: unacked messages are left for redelivery")
        qos._delivered.clear()
        return None


def _ack_unless_connection_lost(qos, delivery_tag):
    """kombu's Redis QoS.ack, except when the channel's connection is already gone.

    A late ack can also run in the consumer's own loop (not only through the request, see
    ``BrokerLossTolerantRequest``), after a reconnect replaced the channel's connection: kombu
    then raises AttributeError there and the consumer stops taking messages while the process
    stays up (seen with Redis stopped under a batch refresh). The message stays in Redis's
    unacked index and comes back once; the task's claim makes the copy a no-op.
    """
    try:
        return _kombu_ack(qos, delivery_tag)
    except AttributeError:
        logger.warning("broker connection lost: message %s left for redelivery", delivery_tag)
        return kombu_virtual.QoS.ack(qos, delivery_tag)  # forget it locally


_kombu_restore_unacked = kombu_redis.QoS.restore_unacked
kombu_redis.QoS.restore_unacked = _restore_unacked_unless_connection_lost
_kombu_ack = kombu_redis.QoS.ack
kombu_redis.QoS.ack = _ack_unless_connection_lost


app = Celery("odportal", task_cls=OdportalTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
