"""Reconciliation runs: full (scheduled, chunked by SKU id, resumable) and incremental (the SKUs
touched by new movements or a new snapshot, within seconds).

A full run plans its chunks once, in SQL, so that each holds about the run's `chunk_keys` keys
(CHUNK_KEYS unless started otherwise); each chunk commits with the run's progress (cursor, keys
done), so a worker killed mid-run loses at most the chunk it was in, and the task sent again
resumes after the cursor with the same result. On other databases than PostgreSQL (the SQLite
demo) the runs take the portable path, one chunk of every SKU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from erp.models import Location, Product

from ..models import (
    ChannelAvailability,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    ReconciliationRun,
    ReconciliationVariance,
    RunKind,
    RunStatus,
    StockBalance,
    StockMovement,
    VarianceStatus,
    VarianceTrendPoint,
)
from .variances import Slice, variances_compute

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

logger = logging.getLogger(__name__)

FULL_TASK = "inventory.tasks.reconciliation_full_run"
RUN_PERMISSION = "inventory.run_reconciliation"
# Keys per chunk (one transaction): fewer, larger chunks spend less on planning each one.
CHUNK_KEYS = 50000
# An incremental run writes a trend point only if the last one is older than this.
TREND_EVERY = timedelta(minutes=5)
# A full run counts its keys afresh at least this often; between, it reuses the last plan.
REPLAN_EVERY = timedelta(hours=24)
_WATERMARK_LOCK = 0x7265636F6E  # "recon": one incremental scan of the ledger at a time

Progress = Callable[[ReconciliationRun], None]


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@transaction.atomic
def run_full_start(*, actor: User | None = None, chunk_keys: int = CHUNK_KEYS) -> ReconciliationRun:
    """Queue a full run whose chunks hold about `chunk_keys` keys each.

    Effects: refuses a person without `inventory.run_reconciliation` (PermissionDenied; None
    is the schedule); returns the run already queued or running if there is one; otherwise
    creates a queued run and sends its task after commit.
    """
    if actor is not None and not actor.has_perm(RUN_PERMISSION):
        raise PermissionDenied("You may not start reconciliation runs.")
    active = (
        ReconciliationRun.objects.select_for_update()
        .filter(kind=RunKind.FULL, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .first()
    )
    if active is not None:
        return active
    run = ReconciliationRun.objects.create(
        kind=RunKind.FULL, requested_by=actor, chunk_keys=chunk_keys
    )
    transaction.on_commit(lambda: run_send(run_id=run.pk))
    return run


def run_send(*, run_id: int) -> None:
    """Effects: hands the run to a worker and notes the task id on it. A broker outage only
    delays the run: the hourly schedule sends every queued or running run again."""
    try:
        result = current_app.send_task(
            FULL_TASK, args=[run_id], queue=getattr(settings, "ERP_RECONCILIATION_QUEUE", None)
        )
    except Exception:
        logger.warning("Could not queue reconciliation run %s; the schedule will", run_id)
        return
    ReconciliationRun.objects.filter(pk=run_id, task_id="").update(task_id=result.id or "")


def _plan_sql() -> str:
    """Chunks of consecutive SKU ids of about `chunk_keys` keys each: (first, last id, keys),
    a key being a distinct (SKU, warehouse) or (SKU, channel) anything compares or compared."""
    return f"""
WITH k AS (
    SELECT b.product_id, 'w' AS kind, loc.warehouse_id AS scope
    FROM {_t(StockBalance)} b JOIN {_t(Location)} loc ON loc.id = b.location_id
    UNION
    SELECT l.product_id, 'w', l.warehouse_id
    FROM {_t(ExternalSnapshotHead)} h JOIN {_t(ExternalSnapshotLine)} l
      ON l.snapshot_id = h.snapshot_id AND l.warehouse_id = h.warehouse_id
    UNION
    SELECT product_id, 'c', channel_id FROM {_t(ChannelAvailability)}
    UNION
    SELECT product_id, CASE WHEN bucket = 'ats' THEN 'c' ELSE 'w' END, scope_id
    FROM {_t(ReconciliationVariance)}
),
per_product AS (SELECT product_id, COUNT(*) AS n FROM k GROUP BY product_id),
cum AS (SELECT product_id, n, SUM(n) OVER (ORDER BY product_id) AS c FROM per_product)
SELECT MIN(product_id), MAX(product_id), SUM(n)::bigint
FROM cum GROUP BY (c::bigint - 1) / %s::bigint ORDER BY 1"""


def _plan(chunk_keys: int) -> list[list[int]]:
    """The run's chunks, [first id, last id, keys], contiguous from the first SKU id to the
    last so that no SKU falls between two chunks.

    The key counts of the previous full run plan this one (an hourly run sees much the same
    keys), so planning reads no table but the SKUs' id bounds; SKUs created since fill new
    chunks at the previous density. Counting every key (a scan of the balances, snapshots,
    ATS and variances, about a tenth of a run) is done for the first run, when the chunk
    size changes, and once a day, so the chunks follow the data as it grows.
    """
    if connection.vendor != "postgresql":
        # The portable path serves small data (the SQLite demo): one chunk of every SKU,
        # its progress counted in SKUs.
        ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
        return [[ids[0], ids[-1], len(ids)]] if ids else []
    bounds = Product.objects.aggregate(first=Min("pk"), last=Max("pk"))
    if bounds["last"] is None:
        return []
    previous = (
        ReconciliationRun.objects.filter(
            kind=RunKind.FULL,
            status=RunStatus.SUCCEEDED,
            chunk_keys=chunk_keys,
            started_at__gte=timezone.now() - REPLAN_EVERY,
        )
        .exclude(plan=[])
        .order_by("-started_at")
        .values_list("plan", flat=True)
        .first()
    )
    if previous is None:
        with connection.cursor() as cursor:
            cursor.execute(_plan_sql(), [chunk_keys])
            counted = [[lo, hi, int(n)] for lo, hi, n in cursor.fetchall()]
        return _contiguous(counted, first=bounds["first"], last=bounds["last"])
    plan = [list(chunk) for chunk in previous if chunk[0] <= bounds["last"]]
    planned_to = plan[-1][1] if plan else bounds["first"] - 1
    ids_per_chunk = max(1, planned_to - bounds["first"] + 1) * chunk_keys
    ids_per_chunk //= max(1, sum(keys for _, _, keys in plan))
    density = chunk_keys / max(1, ids_per_chunk)
    while planned_to < bounds["last"]:
        hi = min(bounds["last"], planned_to + max(1, ids_per_chunk))
        plan.append([planned_to + 1, hi, max(1, round((hi - planned_to) * density))])
        planned_to = hi
    return _contiguous(plan, first=bounds["first"], last=bounds["last"])


def _contiguous(plan: list[list[int]], *, first: int, last: int) -> list[list[int]]:
    """Stretch each chunk to the next one's start (and the ends to the SKU id bounds): a SKU
    with no key when it was planned still belongs to exactly one chunk."""
    if not plan:
        return [[first, last, 0]]
    for chunk, following in pairwise(plan):
        chunk[1] = following[0] - 1
    plan[0][0] = min(plan[0][0], first)
    plan[-1][1] = max(plan[-1][1], last)
    return plan


def run_full_execute(
    *,
    run_id: int,
    now: datetime | None = None,
    progress: Progress | None = None,
    between_chunks: Callable[[ReconciliationRun], None] | None = None,
) -> ReconciliationRun:
    """Run (or resume) a full run chunk by chunk.

    Effects: marks the run running and plans it on first start (the chunks and keys total);
    then, for each chunk after the cursor, in one transaction: computes its variances and
    exceptions and advances the cursor, keys done and counts. At the end writes one trend
    point per source and marks it succeeded with its duration. Another worker already on the
    run (its row locked) makes this one return at once. An error marks it failed, keeping
    the cursor, so the task sent again resumes. `progress` is called after each chunk;
    `between_chunks` too (tests use it to interrupt a run).
    """
    with transaction.atomic():
        run = (
            ReconciliationRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
        )
        if run is None or run.status == RunStatus.SUCCEEDED:
            return run or ReconciliationRun.objects.get(pk=run_id)
        if not run.plan:
            run.plan = _plan(run.chunk_keys)
            run.keys_total = sum(n for _, _, n in run.plan)
            run.started_at = timezone.now()
        run.status = RunStatus.RUNNING
        run.error = ""
        run.save()
    if progress:
        progress(run)
    try:
        for lo, hi, keys in run.plan:
            if hi <= run.cursor:
                continue
            with transaction.atomic():
                run = (
                    ReconciliationRun.objects.select_for_update(skip_locked=True)
                    .filter(pk=run_id)
                    .first()
                )
                if run is None or hi <= run.cursor:
                    return ReconciliationRun.objects.get(pk=run_id)
                result = variances_compute(part=Slice(lo=lo, hi=hi), run_id=run.pk, now=now)
                run.cursor = hi
                run.keys_done += keys
                run.exceptions_opened += result.opened
                run.exceptions_resolved += result.resolved
                run.save(
                    update_fields=[
                        "cursor",
                        "keys_done",
                        "exceptions_opened",
                        "exceptions_resolved",
                    ]
                )
            if progress:
                progress(run)
            if between_chunks:
                between_chunks(run)
    except Exception as error:
        ReconciliationRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        _finish(run, now=now)
    if progress:
        progress(run)
    return run


def _finish(run: ReconciliationRun, *, now: datetime | None) -> None:
    """Counts, trend points and the outcome of a run (its row locked)."""
    scope = ReconciliationVariance.objects.exclude(status=VarianceStatus.MATCHED)
    if run.kind == RunKind.INCREMENTAL:
        scope = scope.filter(product_id__in=run.product_ids)
    counts = scope.aggregate(
        variances=Count("pk"),
        unexplained=Count("pk", filter=Q(status=VarianceStatus.OVER_TOLERANCE)),
    )
    run.variances = counts["variances"]
    run.unexplained = counts["unexplained"]
    run.status = RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    at = now or run.finished_at
    latest = VarianceTrendPoint.objects.order_by("-at").values_list("at", flat=True).first()
    if run.kind == RunKind.FULL or latest is None or latest < at - TREND_EVERY:
        trend_record(run=run, at=at)


def trend_record(*, run: ReconciliationRun, at: datetime) -> None:
    """Effects: one trend point per source from the current variances (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            # Every source with a snapshot gets a point, zero included, so the chart shows a
            # variance appear and clear.
            f"""INSERT INTO {_t(VarianceTrendPoint)} (source, run_id, at, keys, variance_units,
                    unexplained_units, unexplained_value, over_tolerance)
                SELECT s.source, %s, %s, COUNT(v.id) FILTER (WHERE v.status <> %s),
                       COALESCE(SUM(ABS(v.difference)), 0), COALESCE(SUM(ABS(v.unexplained)), 0),
                       COALESCE(SUM(v.unexplained_value), 0),
                       COUNT(v.id) FILTER (WHERE v.status = %s)
                FROM (SELECT DISTINCT source FROM {_t(ExternalSnapshotHead)}
                      UNION SELECT DISTINCT source FROM {_t(ReconciliationVariance)}) s
                LEFT JOIN {_t(ReconciliationVariance)} v ON v.source = s.source
                GROUP BY s.source""",
            [run.pk, at, VarianceStatus.MATCHED, VarianceStatus.OVER_TOLERANCE],
        )


@transaction.atomic
def run_incremental(
    *, product_ids: Iterable[int] | None = None, now: datetime | None = None
) -> ReconciliationRun | None:
    """Reconcile the SKUs given, or those moved since the last incremental run.

    Effects: without SKUs, reads the movements after the last run's watermark (one scan at a
    time, by advisory lock; None if another is scanning or nothing moved). Then computes the
    SKUs' variances and exceptions in one transaction and records the run with its counts.
    A movement committed late under a lower id than the watermark is picked up by the next
    full run.
    """
    watermark = None
    if product_ids is None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_WATERMARK_LOCK])
                if not cursor.fetchone()[0]:
                    return None
            since = (
                ReconciliationRun.objects.filter(kind=RunKind.INCREMENTAL)
                .order_by("-movement_watermark")
                .values_list("movement_watermark", flat=True)
                .first()
            )
            if since is None:
                # The first scan starts at the ledger's end: the full run covers the past.
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_t(StockMovement)}")
                since = cursor.fetchone()[0]
                ReconciliationRun.objects.create(
                    kind=RunKind.INCREMENTAL,
                    status=RunStatus.SUCCEEDED,
                    movement_watermark=since,
                    started_at=timezone.now(),
                    finished_at=timezone.now(),
                )
                return None
            moved = StockMovement.objects.filter(id__gt=since)
            ids = list(moved.values_list("product_id", flat=True).distinct())
            watermark = moved.aggregate(last=Max("id"))["last"]
        if not ids:
            return None
        product_ids = ids
    ids = sorted(set(product_ids))
    if not ids:
        return None
    run = ReconciliationRun.objects.create(
        kind=RunKind.INCREMENTAL,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        product_ids=ids,
        keys_total=len(ids),
        movement_watermark=watermark or 0,
    )
    result = variances_compute(part=Slice(ids=tuple(ids)), run_id=run.pk, now=now)
    run.keys_done = len(ids)
    run.exceptions_opened = result.opened
    run.exceptions_resolved = result.resolved
    _finish(run, now=now)
    return run
