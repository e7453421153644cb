"""A task goes through a real broker to a real worker process and back."""

import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery import Celery
from django.utils import timezone

from erp.models import ExceptionCase, WorkerHeartbeat
from erp.tasks import exceptions_escalate_overdue, worker_heartbeat
from tests.factories import ExceptionCaseFactory
from tests.worker import ROOT, running_worker

pytestmark = pytest.mark.worker

# The worker needs committed rows, so these tests commit; the serialized rollback puts back
# what the migrations created (roles, content types with their ids) for the tests after them.


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_heartbeat_goes_through_redis_to_a_worker_and_writes_to_postgres():
    # Given a worker process consuming a private queue from Redis
    with running_worker() as (queue, hostname):
        # When the heartbeat task is sent through the broker
        result = worker_heartbeat.apply_async(queue=queue).get(timeout=30)

    # Then the worker answered through the result backend, and wrote its row
    assert result["hostname"] == hostname
    heartbeat = WorkerHeartbeat.objects.get(hostname=hostname)
    assert heartbeat.last_seen_at.isoformat() == result["last_seen_at"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overdue_exceptions_escalate_through_a_worker():
    # Given one exception past its SLA and one still within it
    now = timezone.now()
    overdue = ExceptionCaseFactory(sla_due_at=now - timedelta(minutes=5))
    on_time = ExceptionCaseFactory(sla_due_at=now + timedelta(hours=1))

    # When the beat's task runs on a real worker
    with running_worker() as (queue, _hostname):
        result = exceptions_escalate_overdue.apply_async(queue=queue).get(timeout=30)

    # Then the worker escalated the overdue one only, as the system
    assert result == {"escalated": 1}
    states = dict(ExceptionCase.objects.values_list("pk", "state"))
    assert states == {overdue.pk: "escalated", on_time.pk: "open"}
    assert ExceptionCase.objects.get(pk=overdue.pk).history.latest().history_user is None


def test_embedded_default_runs_a_worker_on_sqlite_and_the_filesystem_broker(tmp_path, monkeypatch):
    # Given the embedded set-up: local settings, a SQLite file, no broker server
    env = {
        "DJANGO_SETTINGS_MODULE": "erp.settings.local",
        "ERP_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'erp.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_RESULT_BACKEND": f"file://{tmp_path / 'results'}",
    }
    for folder in ("celery/queue", "celery/processed", "celery/control", "results"):
        (tmp_path / folder).mkdir(parents=True)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**_without_test_settings(), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    # and the database's own rules came through the migrations (SQLite drops the triggers of
    # a table it rebuilds to change a column; the migrations must put them back)
    with sqlite3.connect(tmp_path / "erp.sqlite3") as db:
        triggers = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    assert {
        "stock_movement_no_update",
        "stock_movement_no_delete",
        "journal_entry_no_update",
        "journal_entry_no_delete",
        "journal_line_no_update",
        "journal_line_no_delete",
        "journal_entry_period_open",
        "refund_line_cap_insert",
        "refund_line_cap_update",
        "refund_line_cap_delete",
    } <= triggers
    # and every history table is append-only there too (erp.security), which the script
    # proves through Django on that file: UPDATE and DELETE refused, a deleted user's rows
    # kept (SET_NULL), and the demo reset's lift confined to its own transaction
    assert {f"erp_historicalcategory_no_{what}" for what in ("update", "delete")} <= triggers
    check = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SQLITE_HISTORY_CHECK],
        cwd=ROOT,
        env={**_without_test_settings(), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("history append-only on sqlite"), check.stdout
    # Celery reads these from the environment before its arguments; the test run set them.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    client = Celery(
        broker="filesystem://",
        backend=env["CELERY_RESULT_BACKEND"],
        broker_transport_options={
            "data_folder_in": str(tmp_path / "celery/queue"),
            "data_folder_out": str(tmp_path / "celery/queue"),
            "control_folder": str(tmp_path / "celery/control"),
        },
    )

    # When a worker runs with those settings and the heartbeat is sent to it
    with running_worker(env=env) as (queue, hostname):
        result = client.send_task("erp.tasks.worker_heartbeat", queue=queue).get(timeout=30)

    # Then it ran, and its row is in the SQLite file, which is in WAL mode
    assert result["hostname"] == hostname
    with sqlite3.connect(tmp_path / "erp.sqlite3") as db:
        rows = db.execute("SELECT hostname FROM erp_workerheartbeat").fetchall()
        journal_mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert rows == [(hostname,)]
    assert journal_mode == "wal"


SQLITE_HISTORY_CHECK = """
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from erp.models import Category
from erp.security import history_protect, history_rewrite_allowed, history_unprotected_tables

assert history_unprotected_tables() == [], history_unprotected_tables()
user = User.objects.create(username="sqlite-history")
other = User.objects.create(username="sqlite-other")
category = Category(code="sq", name="Before", department="other")
category._history_user = user
category.save()
table = Category.history.model._meta.db_table
for sql in (
    f"UPDATE {table} SET name = 'After'",
    f"UPDATE {table} SET history_user_id = {other.pk}",
    f"DELETE FROM {table}",
):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except IntegrityError as error:
        assert "append-only" in str(error), error
    else:
        raise SystemExit("not refused: " + sql)
assert list(Category.history.values_list("name", "history_user_id")) == [("Before", user.pk)]
# What deleting the user does to its rows (history_user is SET_NULL)
Category.history.filter(history_user=user).update(history_user=None)
assert list(Category.history.values_list("name", "history_user_id")) == [("Before", None)]
try:
    with transaction.atomic(), history_rewrite_allowed():
        Category.history.all().delete()
        raise RuntimeError("undo")
except RuntimeError:
    pass
assert Category.history.count() == 1 and history_unprotected_tables() == []
with transaction.atomic(), history_rewrite_allowed():
    Category.history.all().delete()
assert Category.history.count() == 0 and history_unprotected_tables() == []
# A column a later migration adds with ALTER TABLE is covered after the next migrate.
category._history_user = other
category.save()
with connection.cursor() as cursor:
    cursor.execute(f"ALTER TABLE {table} ADD COLUMN note text NULL")
assert history_protect() == [table]
try:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET note = 'x'")
except IntegrityError as error:
    assert "append-only" in str(error), error
else:
    raise SystemExit("not refused: an update of the added column")
print("history append-only on sqlite")
"""


def _without_test_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "CELERY_"))}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_reports_in_as_soon_as_it_starts():
    # Given no worker has ever reported
    assert not WorkerHeartbeat.objects.exists()

    # When a worker starts, and nothing is sent to it
    with running_worker() as (_queue, hostname):
        deadline = time.monotonic() + 20
        while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
            assert time.monotonic() < deadline, "the worker never reported in"
            time.sleep(0.2)

    # Then its heartbeat is there
    assert WorkerHeartbeat.objects.get().hostname == hostname


def _worker_backends() -> set[tuple[int, object]]:
    """The PostgreSQL server processes connected to the test database other than ours."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return set(cursor.fetchall())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_keeps_its_database_connection_and_replaces_one_that_was_dropped():
    from django.db import connection

    with running_worker() as (queue, _hostname):
        # Given a worker that has run a task (and had time to close its connection, if it does)
        worker_heartbeat.apply_async(queue=queue).get(timeout=30)
        time.sleep(0.5)
        first = _worker_backends()

        # When it runs two more tasks
        for _ in range(2):
            worker_heartbeat.apply_async(queue=queue).get(timeout=30)
        time.sleep(0.5)

        # Then one server process served them all: no new connection per task
        assert len(first) == 1
        assert _worker_backends() == first

        # And when PostgreSQL drops that connection between two tasks
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(first))[0]])
        result = worker_heartbeat.apply_async(queue=queue).get(timeout=30)

    # Then the next task still ran, on a new connection (checked before its first query)
    assert WorkerHeartbeat.objects.get().last_seen_at.isoformat() == result["last_seen_at"]
