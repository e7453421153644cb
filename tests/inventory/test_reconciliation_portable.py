"""The portable variance computation (the SQLite demo's) gives the rows the PostgreSQL
statements give, on the same data, as it changes."""

from datetime import timedelta
from decimal import Decimal

from django.db import connection

from inventory import services
from inventory.models import (
    CauseType,
    ReconciliationRun,
    ReconciliationTolerance,
    ReconciliationVariance,
    RunKind,
    SnapshotScope,
)
from inventory.models import StockState as S
from inventory.reconciliation import Slice
from inventory.reconciliation.portable import late_pending_portable, variances_compute_portable
from inventory.reconciliation.variances import _late_sql, variances_compute
from tests.factories import ProductFactory

from .test_reconciliation import T0, acknowledge, report, stock_in, tpl  # noqa: F401

COLUMNS = (
    "source",
    "bucket",
    "product_id",
    "scope_id",
    "warehouse_id",
    "channel_id",
    "snapshot_id",
    "taken_at",
    "erp_qty",
    "external_qty",
    "difference",
    "after_snapshot",
    "pending_disposition",
    "in_transit",
    "unacknowledged",
    "explained",
    "unexplained",
    "unit_cost",
    "unexplained_value",
    "status",
    "unexplained_since",
    "computed_at",
)


def rows() -> list[tuple]:
    return sorted(ReconciliationVariance.objects.values_list(*COLUMNS), key=repr)


def both_ways(part: Slice, at) -> None:
    """Compute `part` with the statements, then again portably from the rows as they were
    before; the two results must be the same."""
    before = list(ReconciliationVariance.objects.values())
    run = ReconciliationRun.objects.create(kind=RunKind.INCREMENTAL)
    variances_compute(part=part, run_id=run.pk, now=at)
    expected = rows()
    ReconciliationVariance.objects.all().delete()
    ReconciliationVariance.objects.bulk_create(ReconciliationVariance(**v) for v in before)
    variances_compute_portable(part=part, run_id=run.pk, now=at)
    assert rows() == expected
    assert expected, "the scenario compares something"


def test_the_portable_path_computes_what_the_statements_do(tpl):  # noqa: F811
    third = ProductFactory(sku="FACE-MASK", category=tpl.cream.category)
    ReconciliationTolerance.objects.create(source="shipbob", units=1)
    ReconciliationTolerance.objects.create(
        category=tpl.cream.category, percent=Decimal("10"), value=Decimal("5")
    )
    # given stock in every situation a variance is explained by
    stock_in(tpl, tpl.cream, 40, "cream-in")
    stock_in(tpl, tpl.cream, 3, "rcpt", state=S.RECEIVED_PENDING_INSPECTION, where=tpl.dock, at=T0)
    stock_in(tpl, tpl.cream, 2, "rma", state=S.IN_TRANSIT_RETURN, where=tpl.dock)
    stock_in(tpl, tpl.serum, 20, "serum-in")
    stock_in(tpl, third, 5, "mask-in")
    acknowledge(tpl.channel, tpl.cream)
    stock_in(tpl, tpl.cream, 4, "cream-more", at=T0 + timedelta(hours=2))
    services.stock_move(
        product_id=tpl.serum.pk,
        qty=2,
        from_location_id=tpl.shelf.pk,
        from_state=S.AVAILABLE,
        to_location_id=tpl.dock.pk,
        to_state=S.QUARANTINED,
        idempotency_key="serum-q",
        cause_type=CauseType.ADJUSTMENT,
        occurred_at=T0 + timedelta(hours=3),
    )
    # a full report (the mask missing from it), and a newer partial one for the serum
    report("sb-full", T0 + timedelta(hours=1), ("CURL-CREAM", 50, 41), ("HAIR-SERUM", 21, 21))
    report("sb-part", T0 + timedelta(hours=2), ("HAIR-SERUM", 19, 23), scope=SnapshotScope.PARTIAL)
    everything = Slice(ids=tuple(sorted([tpl.cream.pk, tpl.serum.pk, third.pk])))
    both_ways(everything, T0 + timedelta(hours=4))
    # when the next report agrees on some and the rows on file move on (aging, clearing)
    report("sb-full-2", T0 + timedelta(hours=5), ("CURL-CREAM", 44, 44), ("FACE-MASK", 9, 9))
    both_ways(everything, T0 + timedelta(hours=6))
    # and a chunk by id range too
    lo, hi = min(everything.ids), max(everything.ids)
    both_ways(Slice(lo=lo, hi=hi), T0 + timedelta(hours=7))


def test_the_portable_late_disposition_reading_is_the_statements(tpl):  # noqa: F811
    stock_in(tpl, tpl.cream, 2, "r1", state=S.RECEIVED_PENDING_INSPECTION, where=tpl.dock, at=T0)
    stock_in(
        tpl,
        tpl.cream,
        3,
        "r2",
        state=S.RECEIVED_PENDING_INSPECTION,
        where=tpl.dock,
        at=T0 + timedelta(hours=1),
    )
    services.stock_move(
        product_id=tpl.cream.pk,
        qty=3,
        from_location_id=tpl.dock.pk,
        from_state=S.RECEIVED_PENDING_INSPECTION,
        to_location_id=tpl.shelf.pk,
        to_state=S.AVAILABLE,
        idempotency_key="d1",
        cause_type=CauseType.DISPOSITION,
        occurred_at=T0 + timedelta(hours=2),
    )
    part = Slice(ids=(tpl.cream.pk, tpl.serum.pk))
    with connection.cursor() as cursor:
        cursor.execute(_late_sql(part), part.params())
        expected = sorted(cursor.fetchall())
    assert expected == [(tpl.cream.pk, tpl.warehouse.pk, 2, T0 + timedelta(hours=1))]
    assert late_pending_portable(part) == expected
