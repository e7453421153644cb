"""A full reconciliation run in a real Celery worker that is SIGKILLed mid-run: the chunks it
committed stay, the beat's sweep sends the run to a new worker, which resumes after the last
committed chunk and ends with the same variances as an uninterrupted run, no chunk counted
twice."""

import os
import signal

import psycopg
import pytest
from django.db.models import F
from django.utils import timezone

from inventory.models import ReconciliationRun, ReconciliationVariance, RunStatus
from inventory.reconciliation import run_full_execute, run_full_start
from inventory.tasks import reconciliation_full_schedule
from tests import worker
from tests.inventory.test_reconciliation import make_3pl_world
from tests.inventory.test_reconciliation_runs import seed_many, table
from tests.worker import blocked_on_a_lock, running_worker, wait_for, worker_pid

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHUNK = 6  # keys per chunk: 12 SKUs x (warehouse, channel) = 4 chunks


def test_a_full_run_killed_in_its_worker_resumes_in_another_with_the_same_result(settings):
    seed_many(make_3pl_world(), 12)
    # given the result of an uninterrupted run
    baseline = run_full_execute(run_id=run_full_start(chunk_keys=CHUNK).pk)
    assert len(baseline.plan) == 4
    expected = table()
    first, second, third, _ = baseline.plan
    # and rows on file that differ from what the next run computes (as after a change to
    # every key), so that it writes each of them: a run leaves an unchanged row alone
    ReconciliationVariance.objects.update(erp_qty=F("erp_qty") + 1000)
    # a session holds a variance row of the third chunk, so the worker stops inside that chunk
    blocker = psycopg.connect(worker.test_database_url())
    blocker.execute(
        "SELECT id FROM inventory_reconciliationvariance WHERE product_id BETWEEN %s AND %s "
        "LIMIT 1 FOR UPDATE",
        [third[0], third[1]],
    )
    monitor = psycopg.connect(worker.test_database_url(), autocommit=True)
    try:
        with running_worker() as (queue, hostname):
            settings.ERP_RECONCILIATION_QUEUE = queue
            # when a full run starts in the worker ...
            run = run_full_start(chunk_keys=CHUNK)

            def in_third_chunk() -> bool:
                cursor = ReconciliationRun.objects.get(pk=run.pk).cursor
                return cursor == second[1] and blocked_on_a_lock(monitor)

            wait_for(in_third_chunk, timeout=30, what="two chunks done, the third under way")
            # ... and the worker is killed outright in the middle of the third chunk
            os.kill(worker_pid(hostname), signal.SIGKILL)
            killed_at = timezone.now()
        blocker.rollback()
        wait_for(lambda: not blocked_on_a_lock(monitor), what="the dead chunk to roll back")
    finally:
        blocker.close()
        monitor.close()

    # then the run is left running with the two committed chunks, none of the third
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.plan == baseline.plan
    assert (run.cursor, run.keys_done) == (second[1], first[2] + second[2])
    mine = ReconciliationVariance.objects.filter(run=run)
    assert mine.exists()
    assert not mine.filter(product_id__gt=second[1]).exists()

    # when the beat's sweep sends the run again, to a new worker
    with running_worker() as (queue, _hostname):
        settings.ERP_RECONCILIATION_QUEUE = queue
        assert reconciliation_full_schedule()["resumed"] == [run.pk]
        wait_for(
            lambda: ReconciliationRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED,
            timeout=30,
            what="the second worker to finish the run",
        )

    # then it finished with the uninterrupted run's variances ...
    run.refresh_from_db()
    assert table() == expected
    # ... every key counted once ...
    assert run.keys_done == run.keys_total == baseline.keys_total
    # ... and only the chunks after the cursor were computed again
    rows = ReconciliationVariance.objects.filter(run=run)
    assert rows.count() == ReconciliationVariance.objects.count()
    assert not rows.filter(product_id__lte=second[1], computed_at__gt=killed_at).exists()
    assert not rows.filter(product_id__gt=second[1], computed_at__lte=killed_at).exists()
