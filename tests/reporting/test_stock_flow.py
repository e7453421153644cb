"""Restock latency and quarantine aging, read from movements posted through the ledger."""

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from inventory import services as stock
from inventory.models import StockState
from reporting.kpis import KpiFilters, quarantine_aging, restock_latency
from reporting.models import KpiSnapshot
from reporting.parts import MINUTE, QUARANTINE_RELEASED, RESTOCK, hist_summary, window_parts
from reporting.snapshots import kpi_snapshot_build, quarantine_now_read
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


def test_the_set_based_matching_gives_the_walks_pieces(db, now, monkeypatch):
    # Given 400 random ledger rows over two SKUs (one with two lots), two warehouses and both
    # states: entries, exits to several states, moves within a state, equal timestamps, and
    # exits with no entry read before them (posted earlier than the 20 days read)
    import random

    from inventory.models import StockMovement
    from reporting.kpis import stock_flow

    rng = random.Random(11)
    locations = [LocationFactory(), LocationFactory()]
    products = [ProductFactory(), ProductFactory()]
    states = [S.RECEIVED_PENDING_INSPECTION, S.QUARANTINED]
    others = [S.AVAILABLE, S.REFURBISH, S.DISPOSED, S.LIQUIDATION]
    start = now - timedelta(days=40)
    rows = []
    for n in range(400):
        state = rng.choice(states)
        roll = rng.random()
        if roll < 0.45:
            from_state, to_state = rng.choice([None, *others]), state
        elif roll < 0.9:
            from_state, to_state = state, rng.choice(others)
        else:
            from_state = to_state = state
        rows.append(
            StockMovement(
                product=rng.choice(products),
                lot=rng.choice(["", "L1"]) if n % 2 else "",
                qty=rng.randint(1, 4),
                from_location=None if from_state is None else rng.choice(locations),
                from_state=from_state,
                to_location=rng.choice(locations),
                to_state=to_state,
                kind="move",
                cause_type="transfer",
                occurred_at=start + timedelta(hours=rng.randint(0, 40 * 24 // 3) * 3),
                posted_at=now,
                idempotency_key=f"eq-{n}",
                payload_hash="x",
            )
        )
    StockMovement.objects.bulk_create(rows)
    windows = [
        KpiFilters.last_days(15),
        KpiFilters.last_days(30, warehouse_id=locations[0].warehouse_id),
        KpiFilters.last_days(10, category_id=products[1].category_id),
    ]

    def both(compute):
        in_sql = compute()
        monkeypatch.setattr(stock_flow, "on_postgresql", lambda: False)
        walked = compute()
        monkeypatch.undo()
        return sorted(in_sql), sorted(walked)

    for filters in windows:
        for state in states:
            # When each is computed in SQL and by walking the movements in Python
            in_sql, walked = both(
                lambda f=filters, s=state: stock_flow.stays(s, filters=f, lookback=timedelta(5))
            )
            # Then they are the same pieces, and there are some
            assert in_sql == walked
            assert in_sql
            in_sql, walked = both(
                lambda f=filters, s=state: stock_flow._ages(
                    s, now=now, filters=f, lookback=timedelta(20)
                )
            )
            assert in_sql == walked
            assert in_sql


def test_restock_and_quarantine_stays_from_the_daily_snapshots_match_the_live_figures(db, now):
    # Given units received 6 days ago, restocked or quarantined over the next days, some of
    # the quarantined refurbished, in one warehouse; and the snapshots of every day but today
    product, location = ProductFactory(), LocationFactory()
    t0 = (now - timedelta(days=6)).replace(hour=1, minute=0, second=0)
    pending = S.RECEIVED_PENDING_INSPECTION
    receive(product, location, 6, t0)
    move(product, location, 2, pending, S.AVAILABLE, t0 + timedelta(hours=7, minutes=20))
    move(product, location, 3, pending, S.QUARANTINED, t0 + timedelta(hours=30))
    move(product, location, 1, pending, S.AVAILABLE, t0 + timedelta(days=2, minutes=5))
    move(product, location, 2, S.QUARANTINED, S.REFURBISH, t0 + timedelta(days=3, hours=4))
    for back in range(1, 8):
        kpi_snapshot_build(day=now.date() - timedelta(days=back))

    for filters in (
        KpiFilters.last_days(8),
        KpiFilters.last_days(8, warehouse_id=location.warehouse_id),
    ):
        # When the window is read from the snapshots
        window = window_parts(filters=filters, metrics=[RESTOCK, QUARANTINE_RELEASED])
        restock = hist_summary(window.parts[RESTOCK], MINUTE)
        released = hist_summary(window.parts[QUARANTINE_RELEASED], MINUTE)
        # Then only today was computed live, and the figures are the live ones to the minute:
        # restocks of 440, 440 and 2,885 minutes; two stays of 46 h
        exact = restock_latency(filters=filters)
        live_released = quarantine_aging(filters=filters).released
        assert window.live_days == [now.date()]
        assert (restock.count, exact.count) == (3, 3)
        assert abs(restock.median - exact.median) < timedelta(minutes=1)
        assert abs(restock.p90 - exact.p90) < timedelta(minutes=1)
        assert (released.count, live_released.count) == (2, 2)
        assert abs(released.median - timedelta(hours=46)) < timedelta(minutes=1)


def test_quarantine_aging_is_read_from_todays_young_snapshot_and_counted_live_after(db, now):
    # Given one unit quarantined 10 days ago and today's snapshot built
    product, location = ProductFactory(), LocationFactory()
    pending = S.RECEIVED_PENDING_INSPECTION
    receive(product, location, 2, now - timedelta(days=12))
    move(product, location, 1, pending, S.QUARANTINED, now - timedelta(days=10))
    kpi_snapshot_build(day=timezone.now().date())
    filters = KpiFilters.last_days(30)
    # When a second unit is quarantined now
    move(product, location, 1, pending, S.QUARANTINED, now)

    stored = quarantine_now_read(filters=filters)
    # Then the young snapshot answers: one unit, 8-14 days, as of when it was built
    assert (stored.on_hand, stored.buckets["8–14 days"], stored.buckets["0–2 days"]) == (1, 1, 0)
    assert list(stored.buckets) == [
        "0–2 days",
        "3–7 days",
        "8–14 days",
        "15–30 days",
        "Over 30 days",
    ]
    # When the snapshot is over an hour old
    KpiSnapshot.objects.filter(metric="quarantine_now").update(
        computed_at=timezone.now() - timedelta(hours=2)
    )
    live = quarantine_now_read(filters=filters)
    # Then it is counted live, with the new unit
    assert (live.on_hand, live.buckets["8–14 days"], live.buckets["0–2 days"]) == (2, 1, 1)
    assert live.as_of > stored.as_of
