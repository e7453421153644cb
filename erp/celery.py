"""The Celery app. Tasks live in `<app>/tasks.py` and are found by autodiscovery."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp.settings.local")

app = Celery("erp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def report_in_on_start(sender, **kwargs) -> None:
    """A worker reports in as soon as it starts, not a beat interval later, so the
    operations screen never shows a running worker as missing."""
    sender.app.send_task("erp.tasks.worker_heartbeat", queue=_first_queue(sender))


def _first_queue(consumer) -> str:
    queues = consumer.task_consumer.queues if consumer.task_consumer else []
    return queues[0].name if queues else app.conf.task_default_queue
