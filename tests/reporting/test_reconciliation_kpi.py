"""Reconciliation variance in units and value, explained and not, on variances whose right
answer is worked out here."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from inventory.models import ReconciliationRun, ReconciliationVariance, VarianceTrendPoint
from reporting.kpis import KpiFilters
from reporting.kpis.reconciliation import reconciliation_variance, reconciliation_variance_trend
from tests.factories import ProductFactory, WarehouseFactory

MARCH = KpiFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def variance(source, bucket, product, warehouse, *, explained, unexplained, cost, status):
    difference = explained + unexplained
    return ReconciliationVariance.objects.create(
        source=source,
        bucket=bucket,
        product=product,
        scope_id=warehouse.pk,
        warehouse=warehouse,
        taken_at=T0,
        erp_qty=100,
        external_qty=100 + difference,
        difference=difference,
        explained=explained,
        unexplained=unexplained,
        unit_cost=Decimal(cost),
        unexplained_value=abs(unexplained) * Decimal(cost),
        status=status,
        computed_at=T0,
    )


@pytest.fixture
def variances(db):
    """ShipHero, sellable, at Reno: P1 +5 (3 explained, 2 not, cost 10, over tolerance);
    P2 -4 (all explained, cost 5). ShipHero on hand P1: matches (left out). Amazon FBA,
    sellable, at Newark: P1 -3 (none explained, cost 10, within tolerance)."""
    reno, newark = WarehouseFactory(), WarehouseFactory()
    p1, p2 = ProductFactory(), ProductFactory()
    variance(
        "shiphero",
        "sellable",
        p1,
        reno,
        explained=3,
        unexplained=2,
        cost="10",
        status="over_tolerance",
    )
    variance(
        "shiphero", "sellable", p2, reno, explained=-4, unexplained=0, cost="5", status="explained"
    )
    variance(
        "shiphero", "on_hand", p1, reno, explained=0, unexplained=0, cost="10", status="matched"
    )
    variance(
        "amazon_fba",
        "sellable",
        p1,
        newark,
        explained=0,
        unexplained=-3,
        cost="10",
        status="within_tolerance",
    )
    return {"newark": newark}


def test_variance_in_units_and_value_explained_and_not(variances):
    # When
    rows = {(row.source, row.bucket): row for row in reconciliation_variance(filters=MARCH)}
    # Then ShipHero sellable: |+5| + |-4| = 9 units off, 3 + 4 = 7 explained, 2 not;
    # value 5 x 10 + 4 x 5 = 70 off, 3 x 10 + 4 x 5 = 50 explained, 2 x 10 = 20 not
    assert set(rows) == {("shiphero", "sellable"), ("amazon_fba", "sellable")}
    ship = rows["shiphero", "sellable"]
    assert (ship.keys, ship.over_tolerance) == (2, 1)
    assert (ship.variance_units, ship.explained_units, ship.unexplained_units) == (9, 7, 2)
    assert (ship.variance_value, ship.explained_value, ship.unexplained_value) == (70, 50, 20)
    assert ship.explained_share == pytest.approx(7 / 9)
    # And Amazon: 3 units, none explained, 30 of value
    fba = rows["amazon_fba", "sellable"]
    assert (fba.variance_units, fba.explained_units, fba.unexplained_units) == (3, 0, 3)
    assert (fba.variance_value, fba.unexplained_value) == (30, 30)


def test_variance_by_warehouse(variances):
    # When filtered to Newark
    filters = KpiFilters(start=MARCH.start, end=MARCH.end, warehouse_id=variances["newark"].pk)
    # Then only Amazon's key there
    assert [row.source for row in reconciliation_variance(filters=filters)] == ["amazon_fba"]


def test_variance_trend_keeps_each_days_last_run(db):
    # Given two runs on 10 March (unexplained 8, then 5) and one on 12 March (2)
    run = ReconciliationRun.objects.create(kind="full")
    for at, unexplained in ((T0, 8), (T0 + timedelta(hours=3), 5), (T0 + timedelta(days=2), 2)):
        VarianceTrendPoint.objects.create(
            source="shiphero",
            run=run,
            at=at,
            variance_units=unexplained + 1,
            unexplained_units=unexplained,
        )
    # When
    trend = reconciliation_variance_trend(filters=MARCH)
    # Then the 10th shows its later run; days without a run are empty
    total, unexplained = trend.sources["shiphero"]
    assert unexplained[9] == 5
    assert total[9] == 6
    assert unexplained[11] == 2
    assert unexplained[10] is None
