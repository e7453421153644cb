"""The inbound forecast on a hand-built history, and its backtest."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from reporting.forecast import forecast_backtest, inbound_forecast
from reporting.snapshots import forecast_read, forecast_snapshot_build
from tests.factories import ProductFactory, WarehouseFactory
from tests.reporting.builders import return_case, shipped_line


@pytest.fixture
def now():
    return timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=20)


@pytest.fixture
def history(db, now):
    """Warehouse W's history: 3 single-unit orders shipped 60 days ago, each returned (authorized
    50, shipped 48, received 44 days ago: 2 days to ship, 4 in transit, back 16 days after the
    order shipped); 97 units shipped 100 days ago, none returned; 50 units shipped 10 days ago,
    none returned yet. Return rate 3 / 150 = 2 %.

    Open now: P1, 2 units delivered an hour ago (received 2 hours after now); P2, 1 unit
    shipped yesterday; P3, 1 unit authorized yesterday, not shipped."""
    warehouse, product = WarehouseFactory(name="Reno"), ProductFactory()
    day = timedelta(days=1)
    for _ in range(3):
        line = shipped_line(product=product, qty=1, shipped_at=now - 60 * day, ship_from=warehouse)
        return_case(
            line=line,
            expected_warehouse=warehouse,
            requested_at=now - 51 * day,
            authorized_at=now - 50 * day,
            shipped_at=now - 48 * day,
            received_at=now - 44 * day,
        )
    shipped_line(product=product, qty=97, shipped_at=now - 100 * day, ship_from=warehouse)
    shipped_line(product=product, qty=50, shipped_at=now - 10 * day, ship_from=warehouse)
    elsewhere = {"product": product, "shipped_at": now - 20 * day}  # no ship-from: not W's
    return_case(
        line=shipped_line(qty=2, **elsewhere),
        qty=2,
        state="received",
        expected_warehouse=warehouse,
        requested_at=now - 5 * day,
        authorized_at=now - 5 * day,
        shipped_at=now - 3 * day,
        delivered_at=now - timedelta(hours=1),
        received_at=now + timedelta(hours=2),
    )
    return_case(
        line=shipped_line(qty=1, **elsewhere),
        state="in_transit",
        expected_warehouse=warehouse,
        requested_at=now - 4 * day,
        authorized_at=now - 3 * day,
        shipped_at=now - day,
    )
    return_case(
        line=shipped_line(qty=1, **elsewhere),
        state="authorized",
        expected_warehouse=warehouse,
        requested_at=now - 2 * day,
        authorized_at=now - day,
    )
    return warehouse


def test_forecast_places_known_cases_and_expected_new_returns(history, now):
    # When the forecast is made now
    forecast = inbound_forecast(as_of=now)
    reno = forecast.warehouses[0]

    # Then the model learnt 4 days' transit, 2 days to ship, every authorized case shipping,
    # a 2 % return rate, and returns arriving 16 days after the order shipped
    assert forecast.model.transit[history.pk] == timedelta(days=4)
    assert forecast.model.ship_delay == timedelta(days=2)
    assert forecast.model.ship_rate == 1.0
    assert forecast.model.return_rate[history.pk] == pytest.approx(0.02)
    assert forecast.model.delay_pmf[16] == 1.0
    # And P1 arrives today (delivered), P2 in 3 days (shipped yesterday + 4), P3 in 5 days
    # (ships tomorrow, + 4)
    assert reno.pipeline == [2, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    # And of the 50 units shipped 10 days ago, 2 % are expected on day 6 (16 days after)
    assert reno.fresh == [0, 0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 0, 0, 0]
    assert len(forecast.days) == 14
    assert forecast.days[0] == now.date()


def test_backtest_compares_the_forecast_with_what_arrived(history, now):
    # When the forecast made at `now` is checked 14 days later
    backtest = forecast_backtest(as_of=now + timedelta(days=14))

    # Then 5 units were expected and only P1's 2 arrived (day 0): errors of 1 on days 3, 5
    # and 6 over 14 warehouse-days
    print(
        f"\nforecast backtest (hand-built history): expected {backtest.forecast_units} units, "
        f"received {backtest.actual_units}, MAE {backtest.mean_absolute_error} units/day"
    )
    assert (backtest.forecast_units, backtest.actual_units) == (5.0, 2)
    assert backtest.mean_absolute_error == pytest.approx(3 / 14, abs=1e-3)


def test_backtest_on_the_demo_data(db):
    # Given the demo dataset as of 1 March 2026
    call_command("seed_demo", "--as-of", "2026-03-01", stdout=io.StringIO())
    # When the forecast made 14 days before its end is checked against what arrived
    backtest = forecast_backtest(as_of=datetime(2026, 3, 1, tzinfo=UTC))
    print(
        f"\nforecast backtest (demo data, origin {backtest.origin:%d %b %Y}): expected "
        f"{backtest.forecast_units} units, received {backtest.actual_units}, "
        f"MAE {backtest.mean_absolute_error} units per warehouse-day"
    )
    # Then returns did arrive in those 14 days, and the error is measured against them
    assert backtest.actual_units > 0
    assert backtest.forecast_units > 0
    assert backtest.mean_absolute_error > 0


def test_the_snapshot_job_stores_the_forecast_the_dashboard_reads(history, now):
    # When the hourly job stores the forecast made now
    written = forecast_snapshot_build(as_of=now)

    # Then 14 days x known/fresh rows exist for the warehouse, and reading them back (two
    # queries) gives the same series as computing it
    assert written == 28
    stored = forecast_read(today=now.date())
    known, fresh = stored.warehouses["Reno"]
    computed = inbound_forecast(as_of=now).warehouses[0]
    assert (known, fresh) == (computed.pipeline, computed.fresh)
    assert stored.computed_at is not None
