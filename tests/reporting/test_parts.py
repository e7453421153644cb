"""Window figures from the daily snapshots' parts: the same answer as computing the window
live (percentiles to within half an hour), and snapshots per category for the category filter."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from reporting.kpis import KpiFilters, return_cycle_times
from reporting.kpis.stats import percentile_cont
from reporting.models import KpiSnapshot
from reporting.parts import (
    PART_METRICS,
    SKU_RATES,
    TODAY_MAX_AGE,
    all_parts,
    hist_metric,
    hist_percentile,
    reasons_metric,
    stage_summaries,
    window_parts,
)
from reporting.snapshots import kpi_snapshot_build, kpi_trend
from tests.factories import CategoryFactory, ProductFactory
from tests.reporting.builders import return_case, shipped_line

WINDOW = KpiFilters(start=date(2026, 3, 9), end=date(2026, 3, 12))
T0 = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_percentile_of_an_hour_histogram_is_percentile_cont_of_the_hour_middles():
    # Given durations of 3.2, 7.9, 7.1, 20.5 and 40 h, binned to whole hours
    hist = {"3": 1, "7": 2, "20": 1, "40": 1}
    middles = [3.5, 7.5, 7.5, 20.5, 40.5]
    # Then each percentile is PostgreSQL's percentile_cont of the middles
    for fraction in (0.5, 0.9, 0.25):
        assert hist_percentile(hist, fraction) == pytest.approx(percentile_cont(middles, fraction))
    assert hist_percentile({}, 0.5) is None


@pytest.fixture
def window_cases(db):
    """Six cases requested 9-11 March, each closing 30-130 h later; tops and phones."""
    tops = CategoryFactory(code="tops", name="Tops")
    phones = CategoryFactory(code="phones", name="Phones")
    products = [ProductFactory(category=tops), ProductFactory(category=phones)]
    for n in range(6):
        start = T0 + n * 9 * H
        line = shipped_line(product=products[n % 2], qty=3, shipped_at=start - 5 * 24 * H)
        return_case(
            line=line,
            qty=1 + n % 2,
            requested_at=start,
            authorized_at=start + (n + 1) * H,
            closed_at=start + (30 + n * 7) * H if start + (30 + n * 7) * H < T0 + 96 * H else None,
            state="closed" if start + (30 + n * 7) * H < T0 + 96 * H else "authorized",
        )
    return {"tops": tops, "phones": phones}


def test_the_window_from_snapshots_equals_the_window_computed_live(window_cases):
    # Given the four days' snapshots
    for day in WINDOW.days:
        kpi_snapshot_build(day=day)
    # When the window is read from them, and computed live
    stored = window_parts(filters=WINDOW, metrics=PART_METRICS)
    live = all_parts(WINDOW)
    # Then every day came from the snapshots, and the parts add up to the live ones
    assert stored.snapshot_days == 4
    assert stored.live_days == []
    for metric in PART_METRICS:
        assert stored.parts[metric] == live[metric], metric
    # And the cycle times agree with the exact ones to within half an hour
    exact = {item.stage.key: item.summary for item in return_cycle_times(filters=WINDOW)}
    for stage, summary in stage_summaries(stored.parts):
        if stage.key in exact and exact[stage.key].count:
            assert summary.count == exact[stage.key].count
            assert abs(summary.median_hours - exact[stage.key].median_hours) <= 0.5
            assert abs(summary.p90_hours - exact[stage.key].p90_hours) <= 0.5
    assert sum(returned for _, returned in stored.parts[SKU_RATES].values()) == 9


def test_days_without_a_snapshot_are_computed_live(window_cases):
    # Given only the first two days stored
    for day in WINDOW.days[:2]:
        kpi_snapshot_build(day=day)
    # When
    stored = window_parts(filters=WINDOW, metrics=[hist_metric("total"), reasons_metric("sku")])
    # Then the last two are computed live and the sums are the window's
    assert stored.live_days == WINDOW.days[2:]
    live = all_parts(WINDOW, [hist_metric("total"), reasons_metric("sku")])
    assert stored.parts == live


def test_category_filter_reads_the_categorys_own_snapshots(window_cases):
    # Given the snapshots (per category too)
    for day in WINDOW.days:
        kpi_snapshot_build(day=day)
    tops = window_cases["tops"]
    filters = KpiFilters(start=WINDOW.start, end=WINDOW.end, category_id=tops.pk)
    # When
    trend = kpi_trend(filters=filters, metrics=["cases_requested", "units_requested"])
    # Then the trend is the category's: cases 0, 2 and 4 (one unit each) on the 9th and 10th
    assert trend.dimension == f"category:{tops.pk}"
    assert sum(v or 0 for v in trend.series["cases_requested"]) == 3
    assert sum(v or 0 for v in trend.series["units_requested"]) == 3
    everything = kpi_trend(filters=WINDOW, metrics=["units_requested"])
    assert sum(v or 0 for v in everything.series["units_requested"]) == 9


def test_today_comes_from_its_snapshot_while_young_and_is_computed_live_after(window_cases):
    # Given "today" is 12 March, its snapshot built, then one more case requested today
    today = WINDOW.end
    for day in WINDOW.days:
        kpi_snapshot_build(day=day)
    line = shipped_line(product=ProductFactory(), qty=5, shipped_at=T0 - 5 * 24 * H)
    return_case(line=line, qty=4, requested_at=T0 + 80 * H, state="authorized")
    metrics = [SKU_RATES]

    def returned(parts):
        return sum(units for _, units in parts.parts[SKU_RATES].values())

    # When the window is read while today's snapshot is young
    young = window_parts(filters=WINDOW, metrics=metrics, today=today)
    # Then today came from it (the late case is not in it yet) and nothing was computed live
    assert (young.snapshot_days, young.live_days, returned(young)) == (4, [], 9)

    # When today's snapshot is older than TODAY_MAX_AGE
    KpiSnapshot.objects.filter(day=today).update(
        computed_at=timezone.now() - TODAY_MAX_AGE - timedelta(minutes=1)
    )
    old = window_parts(filters=WINDOW, metrics=metrics, today=today)
    # Then today is computed live, with the late case's 4 units
    assert (old.snapshot_days, old.live_days, returned(old)) == (3, [today], 13)
