"""Daily KPI snapshots: built per day and dimension, idempotent, read back as trends."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from reporting import tasks
from reporting.kpis import KpiFilters
from reporting.models import KpiSnapshot
from reporting.snapshots import kpi_snapshot_build, kpi_trend
from tests.factories import ChannelFactory, ProductFactory
from tests.reporting.builders import return_case, shipped_line

DAY = date(2026, 3, 10)
T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)


def test_a_day_snapshot_holds_its_kpis_per_dimension_and_rebuilds_in_place(db):
    # Given, on 10 March, 4 units shipped on one channel and 1 returned, closed in 30 hours
    channel = ChannelFactory()
    line = shipped_line(product=ProductFactory(), qty=4, shipped_at=T0, channel=channel)
    return_case(line=line, requested_at=T0, closed_at=T0 + timedelta(hours=30))

    # When the day's snapshot is built, twice
    written = kpi_snapshot_build(day=DAY)
    assert kpi_snapshot_build(day=DAY) == written

    # Then each metric has one row per dimension; the overall return rate is 1 / 4
    rows = KpiSnapshot.objects.filter(day=DAY)
    assert rows.count() == written
    overall = {row.metric: row for row in rows.filter(dimension="")}
    assert overall["return_rate"].value == Decimal("0.2500")
    assert overall["units_shipped"].value == 4
    assert overall["cases_requested"].value == 1
    # The case closed the next day: no cycle time on the 10th
    assert overall["cycle_total_median_hours"].value is None
    assert rows.filter(dimension=f"channel:{channel.pk}", metric="units_shipped").get().value == 4


def test_trend_reads_one_row_per_day_and_says_when_computed(db, django_assert_num_queries):
    channel = ChannelFactory()
    line = shipped_line(product=ProductFactory(), qty=2, shipped_at=T0, channel=channel)
    return_case(line=line, requested_at=T0)
    kpi_snapshot_build(day=DAY)
    window = KpiFilters(start=DAY - timedelta(days=2), end=DAY)

    with django_assert_num_queries(2):
        trend = kpi_trend(filters=window, metrics=["cases_requested", "units_shipped"])

    # Days without a snapshot are gaps, not zeros
    assert trend.series["cases_requested"] == [None, None, 1.0]
    assert trend.series["units_shipped"] == [None, None, 2.0]
    assert trend.computed_at is not None


def test_the_beat_task_backfills_missing_days(db, monkeypatch):
    # When the hourly task runs on a database with no snapshots
    built = tasks.kpi_snapshots_build()
    # Then it builds the 60 days up to today, each with its overall rows
    assert len(built) == 60
    assert KpiSnapshot.objects.filter(dimension="").values("day").distinct().count() == 60
    # And a second run rebuilds only today and yesterday
    assert len(tasks.kpi_snapshots_build()) == 2


def test_a_day_stored_before_a_part_metric_existed_is_built_again(db):
    # Given days 3 and 4 before today stored, then day 4's recovery parts gone (stored by a
    # version that did not have them)
    from reporting.parts import RECOVERY
    from reporting.snapshots import kpi_snapshots_backfill

    today = datetime.now(UTC).date()
    old, older = today - timedelta(days=3), today - timedelta(days=4)
    kpi_snapshot_build(day=old)
    kpi_snapshot_build(day=older)
    KpiSnapshot.objects.filter(day=older, metric=RECOVERY).delete()
    # When the backfill runs over the last five days
    built = kpi_snapshots_backfill(through=today, days=5)
    # Then day 4 is built again (with its recovery), day 3 is not
    assert older in built
    assert old not in built
    assert KpiSnapshot.objects.filter(day=older, metric=RECOVERY, dimension="").exists()
