"""Hand newly stored inbound events to the workers in batches: one broker message per
FLUSH_SECONDS per process instead of one per webhook.

A webhook's request only appends the event's id to this process's list after its commit; a
timer thread sends the ids gathered meanwhile as `erp.tasks.inbox_process_batch` tasks of at
most BATCH ids. Nothing is lost when the broker is down or the process dies before the
timer fires: the events are stored `received`, and the stale sweep sends them again.
"""

import logging
import threading

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

BATCH_TASK = "erp.tasks.inbox_process_batch"
FLUSH_SECONDS = 0.05
BATCH = 200
# One quick reconnect, then give up, as for single events (inbox.PUBLISH_RETRY).
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

_lock = threading.Lock()
_pending: list[int] = []
_timer: threading.Timer | None = None


def processing_queue(event_id: int) -> None:
    """Effects: none on the database; `event_id` is sent to a worker within FLUSH_SECONDS,
    with the other events this process stored meanwhile."""
    global _timer
    with _lock:
        _pending.append(event_id)
        if _timer is None:
            # Not a daemon: a command that stores events and exits still sends them.
            _timer = threading.Timer(FLUSH_SECONDS, processing_flush)
            _timer.start()


def processing_flush() -> int:
    """Send what is pending now, in batches; returns how many events were sent."""
    global _timer
    with _lock:
        ids = list(_pending)
        _pending.clear()
        _timer = None
    sent = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        try:
            current_app.send_task(
                BATCH_TASK,
                args=[chunk],
                queue=getattr(settings, "ERP_INTEGRATION_QUEUE", None),
                retry_policy=PUBLISH_RETRY,
            )
        except Exception:
            logger.warning(
                "Could not queue %d inbound events; the sweep will", len(chunk), exc_info=True
            )
            continue
        sent += len(chunk)
    return sent
