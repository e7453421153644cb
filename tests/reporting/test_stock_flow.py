"""Restock latency and quarantine aging, read from movements posted through the ledger."""

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from inventory import services as stock
from inventory.models import StockState
from reporting.kpis import KpiFilters, quarantine_aging, restock_latency
from tests.factories import LocationFactory, ProductFactory

S = StockState
keys = count()


def receive(product, location, qty, at):
    stock.stock_receive(
        product_id=product.pk,
        location_id=location.pk,
        qty=qty,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key=f"r-{next(keys)}",
        occurred_at=at,
    )


def move(product, location, qty, from_state, to_state, at):
    stock.stock_move(
        product_id=product.pk,
        qty=qty,
        from_location_id=location.pk,
        from_state=from_state,
        to_location_id=location.pk,
        to_state=to_state,
        idempotency_key=f"m-{next(keys)}",
        occurred_at=at,
    )


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def test_restock_latency_matches_units_first_in_first_out(db, now):
    # Given 3 units received at t0 and 2 at t0 + 10 h, pending inspection
    product, location = ProductFactory(), LocationFactory()
    t0 = now - timedelta(days=10)
    receive(product, location, 3, t0)
    receive(product, location, 2, t0 + timedelta(hours=10))
    # When 2 become available at t0 + 5 h (first batch: 5 h each), 2 more at t0 + 20 h (one of
    # the first batch, 20 h; one of the second, 10 h) and 1 goes to quarantine (not a restock)
    pending, available = S.RECEIVED_PENDING_INSPECTION, S.AVAILABLE
    move(product, location, 2, pending, available, t0 + timedelta(hours=5))
    move(product, location, 2, pending, available, t0 + timedelta(hours=20))
    move(product, location, 1, pending, S.QUARANTINED, t0 + timedelta(hours=30))

    # Then the latencies are 5, 5, 10, 20 h: median 7.5 h; p90 at 0.9 x 3 = 2.7 → 10 + 0.7 x 10
    latency = restock_latency(filters=KpiFilters.last_days(30))
    assert latency.count == 4
    assert latency.median_hours == pytest.approx(7.5)
    assert latency.p90_hours == pytest.approx(17)
    # And another warehouse's filter sees none of it
    other = LocationFactory()
    assert (
        restock_latency(filters=KpiFilters.last_days(30, warehouse_id=other.warehouse_id)).count
        == 0
    )


def test_quarantine_aging_dates_each_unit_by_when_it_entered(db, now):
    # Given 2 units quarantined 35 days ago and 1 five days ago
    product, location = ProductFactory(), LocationFactory()
    receive(product, location, 3, now - timedelta(days=40))
    pending = S.RECEIVED_PENDING_INSPECTION
    move(product, location, 2, pending, S.QUARANTINED, now - timedelta(days=35))
    move(product, location, 1, pending, S.QUARANTINED, now - timedelta(days=5))
    # When one leaves quarantine for refurbishment a day ago (the oldest goes first)
    move(product, location, 1, S.QUARANTINED, S.REFURBISH, now - timedelta(days=1))

    aging = quarantine_aging(filters=KpiFilters.last_days(30), now=now)

    # Then one unit is over 30 days old and one 3-7 days; two in quarantine in all
    assert {bucket.label: bucket.units for bucket in aging.buckets} == {
        "0–2 days": 0,
        "3–7 days": 1,
        "8–14 days": 0,
        "15–30 days": 0,
        "Over 30 days": 1,
    }
    assert aging.on_hand == 2
    # And the released unit spent 34 days there
    assert (aging.released.count, aging.released.median) == (1, timedelta(days=34))
