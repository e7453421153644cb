"""Demo data for the control tower: a ShipBob stock summary of the demo's 3PL warehouse, taken
just before its last movements, and one SKU it miscounts; a full run leaves at least one
variance explained (by the movements after the summary) and one unexplained, with its
exception. Works on the SQLite demo through the portable path.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Max

from erp.demo.clock import clock_at
from erp.models import ExceptionCase, ExceptionNote, Product, Warehouse
from erp.models.exceptions import ExceptionKind, SubjectType

from ..models import (
    ExternalLocation,
    ExternalSnapshot,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    ReconciliationRun,
    ReconciliationVariance,
    SnapshotSource,
    StockMovement,
    StockState,
    VarianceCorrection,
    VarianceStatus,
    VarianceTrendPoint,
)
from .buckets import PHYSICAL_STATES
from .runs import run_full_execute, run_full_start
from .snapshots import SnapshotLineIn, snapshot_record

SOURCE = SnapshotSource.SHIPBOB
EXTERNAL_CODE = "DEMO-FC"
MISCOUNTED_BY = 3


def _held_at(warehouse_id: int, taken_at: datetime) -> dict[int, list[int]]:
    """{product id: [on hand, available]} at the warehouse as the ledger had it at taken_at."""
    held: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    moves = StockMovement.objects.filter(occurred_at__lte=taken_at).values_list(
        "product_id",
        "qty",
        "from_location__warehouse_id",
        "from_state",
        "to_location__warehouse_id",
        "to_state",
    )
    for product_id, qty, from_warehouse, from_state, to_warehouse, to_state in moves:
        for sign, where, state in ((1, to_warehouse, to_state), (-1, from_warehouse, from_state)):
            if where == warehouse_id:
                held[product_id][0] += sign * qty if state in PHYSICAL_STATES else 0
                held[product_id][1] += sign * qty if state == StockState.AVAILABLE else 0
    return held


def demo_reconciliation_seed(*, rng: random.Random, as_of: datetime) -> dict[str, int]:
    """Effects: maps the demo's ShipBob warehouse for its reports, records a stock summary
    taken a second before the warehouse's last movements (SKU codes as the 3PL reports
    them), with one SKU counted MISCOUNTED_BY units short, and runs a full reconciliation
    (opening the exception of the unexplained variance). Returns counts for the report."""
    warehouse = (
        Warehouse.objects.filter(operator=Warehouse.Operator.THIRD_PARTY, provider=SOURCE)
        .order_by("code")
        .first()
    )
    if warehouse is None:
        return {}
    last = StockMovement.objects.filter(to_location__warehouse=warehouse).aggregate(
        at=Max("occurred_at")
    )["at"]
    if last is None:
        return {}
    ExternalLocation.objects.get_or_create(
        source=SOURCE, external_code=EXTERNAL_CODE, defaults={"warehouse": warehouse}
    )
    taken_at = last - timedelta(seconds=1)
    held = _held_at(warehouse.pk, taken_at)
    moved_after = set(
        StockMovement.objects.filter(occurred_at__gt=taken_at).values_list("product_id", flat=True)
    )
    quiet = sorted(p for p, (_, available) in held.items() if p not in moved_after and available)
    miscounted = rng.choice(quiet) if quiet else None
    skus = dict(Product.objects.filter(pk__in=list(held)).values_list("pk", "sku"))
    lines = []
    for product_id, (on_hand, available) in sorted(held.items()):
        short = MISCOUNTED_BY if product_id == miscounted else 0
        lines.append(
            SnapshotLineIn(
                sku=skus[product_id],
                external_location=EXTERNAL_CODE,
                on_hand=max(on_hand - short, 0),
                available=max(available - short, 0),
            )
        )
    # Stamped at the demo's as-of moment (exceptions, SLAs, run times), so a seed gives the
    # same data whatever day it runs.
    with clock_at(as_of):
        snapshot_record(
            source=SOURCE,
            taken_at=taken_at,
            external_ref=f"demo-summary-{taken_at:%Y%m%d%H%M%S}",
            lines=lines,
            note="Demo: taken just before the warehouse's last movements.",
        )
        run_full_execute(run_id=run_full_start().pk, now=as_of)
    variances = ReconciliationVariance.objects.exclude(status=VarianceStatus.MATCHED)
    return {
        "reconciliation variances": variances.count(),
        "  explained": variances.filter(status=VarianceStatus.EXPLAINED).count(),
        "  unexplained": variances.exclude(status=VarianceStatus.EXPLAINED).count(),
    }


def demo_reconciliation_reset() -> dict[str, int]:
    """Effects: deletes the reconciliation data (snapshots, variances and their exceptions,
    corrections, runs, trend, source mappings); returns rows deleted per table. Call inside a
    transaction, before the stock reset."""
    exception_ids = list(
        ExceptionCase.objects.filter(
            kind__in=[ExceptionKind.RECONCILIATION_VARIANCE, ExceptionKind.LATE_3PL_DISPOSITION],
            subject_type__in=[SubjectType.VARIANCE, SubjectType.PRODUCT],
        ).values_list("pk", flat=True)
    )
    deleted = {}
    for label, queryset in [
        ("variance corrections", VarianceCorrection.objects.all()),
        ("variances", ReconciliationVariance.objects.all()),
        (
            "reconciliation exception notes",
            ExceptionNote.objects.filter(exception_id__in=exception_ids),
        ),
        ("reconciliation exception history", ExceptionCase.history.filter(id__in=exception_ids)),
        ("reconciliation exceptions", ExceptionCase.objects.filter(pk__in=exception_ids)),
        ("variance trend points", VarianceTrendPoint.objects.all()),
        ("reconciliation runs", ReconciliationRun.objects.all()),
        ("snapshot heads", ExternalSnapshotHead.objects.all()),
        ("snapshot lines", ExternalSnapshotLine.objects.all()),
        ("snapshots", ExternalSnapshot.objects.all()),
        ("source mapping history", ExternalLocation.history.all()),
        ("source mappings", ExternalLocation.objects.all()),
    ]:
        deleted[label] = queryset._raw_delete(connection.alias)
    return deleted
