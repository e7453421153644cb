"""The Celery app. Tasks live in `<app>/tasks.py` and are found by autodiscovery."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_ready
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp.settings.local")

app = Celery("erp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def database_connection_as_for_a_request(sender=None, **kwargs) -> None:
    """Before each task, treat the worker's database connection as Django treats it before
    each web request: close it if it broke or is older than CONN_MAX_AGE, and otherwise keep
    it, checked before its first query (CONN_HEALTH_CHECKS). Celery alone closes it around
    every task (unless CELERY_DB_REUSE_MAX), and a new connection costs a PostgreSQL backend
    start (~4 ms of server CPU, more as it loads each table's catalog entries) plus the
    client's connect, for tasks that mostly run a few queries. Eager tasks run inside the
    caller's transaction (tests): their connection is the caller's, left alone."""
    if sender is not None and not getattr(sender.request, "is_eager", False):
        close_old_connections()


@worker_ready.connect
def report_in_on_start(sender, **kwargs) -> None:
    """A worker reports in as soon as it starts, not a beat interval later, so the
    operations screen never shows a running worker as missing."""
    sender.app.send_task("erp.tasks.worker_heartbeat", queue=_first_queue(sender))


def _first_queue(consumer) -> str:
    queues = consumer.task_consumer.queues if consumer.task_consumer else []
    return queues[0].name if queues else app.conf.task_default_queue
