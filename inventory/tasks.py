"""Background jobs of the stock ledger: reconciliation runs."""

from celery import shared_task

from inventory.models import ReconciliationRun, RunKind, RunStatus
from inventory.reconciliation import runs


@shared_task(name="inventory.tasks.reconciliation_incremental", acks_late=True)
def reconciliation_incremental(product_ids: list[int] | None = None) -> dict:
    """Reconcile the SKUs given (a new snapshot) or those moved since the last run; beat runs
    it every few seconds. Idempotent: a key computed twice is written the same."""
    run = runs.run_incremental(product_ids=product_ids)
    if run is None:
        return {"run": None}
    return {"run": run.pk, "keys": run.keys_done, "over_tolerance": run.unexplained}


@shared_task(bind=True, name="inventory.tasks.reconciliation_full_run", acks_late=True)
def reconciliation_full_run(self, run_id: int) -> dict:
    """Run or resume a full run; its progress (keys done / total) is the task state too."""

    def progress(run: ReconciliationRun) -> None:
        self.update_state(
            state="PROGRESS", meta={"run": run.pk, "done": run.keys_done, "total": run.keys_total}
        )

    run = runs.run_full_execute(run_id=run_id, progress=progress)
    return {"run": run.pk, "status": run.status, "done": run.keys_done, "total": run.keys_total}


@shared_task(name="inventory.tasks.reconciliation_full_schedule", acks_late=True)
def reconciliation_full_schedule() -> dict:
    """Beat: start a full run, and send again any queued or running full run (a worker that
    died mid-run left it there; the run resumes after its cursor)."""
    unfinished = list(
        ReconciliationRun.objects.filter(
            kind=RunKind.FULL, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        ).values_list("pk", flat=True)
    )
    for run_id in unfinished:
        runs.run_send(run_id=run_id)
    run = unfinished[0] if unfinished else runs.run_full_start().pk
    return {"run": run, "resumed": unfinished}
