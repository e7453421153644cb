"""Return cycle time per stage, median and p90, on cases whose answer is worked out here."""

from datetime import UTC, date, datetime, timedelta

import pytest

from reporting.kpis import KpiFilters, return_cycle_times
from reporting.kpis import stats as kpi_stats
from tests.factories import ChannelFactory, ProductFactory
from tests.reporting.builders import return_case, shipped_line

MARCH = KpiFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def closed_case(line, *, total: float, auth: float, start=T0):
    return return_case(
        line=line,
        requested_at=start,
        authorized_at=start + hours(auth),
        shipped_at=start + hours(24),
        delivered_at=start + hours(72),
        received_at=start + hours(80),
        inspected_at=start + hours(90),
        closed_at=start + hours(total),
    )


@pytest.fixture
def march_cases(db):
    """Closed in March: A 100 h (auth 2 h), B 200 h (4 h), C 300 h (6 h, other channel).
    D closes in April (auth 1 h, in March); E is still open (auth 8 h)."""
    ours, theirs = ChannelFactory(), ChannelFactory()
    product = ProductFactory()
    line = shipped_line(product=product, qty=1, shipped_at=T0 - timedelta(days=5), channel=ours)
    other = shipped_line(product=product, qty=1, shipped_at=T0 - timedelta(days=5), channel=theirs)
    closed_case(line, total=100, auth=2)
    closed_case(line, total=200, auth=4)
    closed_case(other, total=300, auth=6)
    closed_case(line, total=24 * 30, auth=1, start=T0 + timedelta(days=2))
    return_case(line=line, state="authorized", requested_at=T0, authorized_at=T0 + hours(8))
    return ours


@pytest.fixture(params=["postgresql", "python"])
def computed_in(request, monkeypatch):
    """Each test runs with the SQL percentile and with the Python one (the SQLite path)."""
    if request.param == "python":
        monkeypatch.setattr(kpi_stats, "on_postgresql", lambda: False)
    return request.param


def by_stage(filters):
    return {item.stage.key: item.summary for item in return_cycle_times(filters=filters)}


def test_cycle_time_median_and_p90_per_stage(march_cases, computed_in, django_assert_num_queries):
    # When the March cycle times are computed
    with django_assert_num_queries(1 if computed_in == "postgresql" else 5):
        stages = by_stage(MARCH)

    # Then requested → closed counts the three cases closed in March: 100, 200, 300 h;
    # median 200 h, p90 at position 0.9 x 2 = 1.8 → 200 + 0.8 x 100 = 280 h
    total = stages["total"]
    assert (total.count, total.median_hours, total.p90_hours) == (3, 200, 280)
    # And authorization counts every case authorized in March: 1, 2, 4, 6, 8 h;
    # median 4 h, p90 at position 3.6 → 6 + 0.6 x 2 = 7.2 h
    auth = stages["authorization"]
    assert (auth.count, auth.median_hours, pytest.approx(auth.p90_hours)) == (5, 4, 7.2)
    # And the carrier and warehouse stages are 48, 8 and 10 h for the four that lived them
    assert stages["transit"].median_hours == 48
    assert stages["dock_to_receipt"].median_hours == 8
    assert stages["receipt_to_inspection"].median_hours == 10
    assert stages["transit"].count == 4


def test_cycle_time_follows_the_channel_filter(march_cases, computed_in):
    # When only the first channel is asked for
    stages = by_stage(KpiFilters(start=MARCH.start, end=MARCH.end, channel_id=march_cases.pk))

    # Then C (300 h) drops out: 100 and 200 h, median 150, p90 190
    total = stages["total"]
    assert (total.count, total.median_hours, total.p90_hours) == (2, 150, 190)


def test_an_empty_window_has_no_median(march_cases, computed_in):
    stages = by_stage(KpiFilters(start=date(2025, 1, 1), end=date(2025, 1, 31)))
    assert (stages["total"].count, stages["total"].median) == (0, None)


def test_python_percentile_matches_postgresql_definition():
    # Given values 1..5: percentile_cont(0.9) sits at position 3.6 → 4 + 0.6 x 1
    assert kpi_stats.percentile_cont([5, 1, 3, 2, 4], 0.9) == pytest.approx(4.6)
    assert kpi_stats.percentile_cont([7], 0.5) == 7
    assert kpi_stats.percentile_cont([], 0.5) is None
