"""Build the daily KPI snapshots and read trends from them."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from erp.models import Category, Channel, ExceptionCase, Warehouse
from returns.models.cases import VOID_STATES

from .forecast import HORIZON_DAYS, inbound_forecast
from .kpis import KpiFilters, restock_latency, return_cycle_times
from .kpis.cases import cases_filtered, lines_filtered
from .kpis.refunds import refund_accuracy, refund_latency
from .kpis.return_rate import returned_units, shipped_units
from .models import KpiSnapshot
from .parts import all_parts

# metric → how a chart names it. Cycle times are stored per stage as
# cycle_<stage>_median_hours and cycle_<stage>_p90_hours.
METRICS = {
    "cases_requested": "Cases requested",
    "units_requested": "Units returned",
    "units_received": "Units received",
    "units_shipped": "Units shipped",
    "return_rate": "Return rate",
    "exceptions_opened": "Exceptions opened",
    "restock_median_hours": "Restock latency, median (h)",
    "cycle_total_median_hours": "Cycle time, median (h)",
    "cycle_total_p90_hours": "Cycle time, p90 (h)",
    "refunds_issued": "Refunds issued",
    "refund_latency_median_hours": "Refund latency, median (h)",
    "refund_accuracy": "Refund accuracy",
}


def _hours(delta: timedelta | None) -> Decimal | None:
    return (
        None if delta is None else Decimal(delta.total_seconds() / 3600).quantize(Decimal("0.01"))
    )


def _values_for(filters: KpiFilters, *, with_exceptions: bool) -> dict[str, tuple]:
    """metric → (value, count) for the one-day window in `filters`."""
    values: dict[str, tuple] = {}
    for stage in return_cycle_times(filters=filters):
        summary = stage.summary
        values[f"cycle_{stage.stage.key}_median_hours"] = (_hours(summary.median), summary.count)
        values[f"cycle_{stage.stage.key}_p90_hours"] = (_hours(summary.p90), summary.count)
    requested = (
        cases_filtered(filters)
        .filter(requested_at__gte=filters.since, requested_at__lt=filters.until)
        .exclude(state__in=VOID_STATES)
        .aggregate(n=Count("pk"))
    )["n"]
    values["cases_requested"] = (Decimal(requested), requested)
    received = (
        lines_filtered(filters)
        .filter(case__received_at__gte=filters.since, case__received_at__lt=filters.until)
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    values["units_received"] = (Decimal(received), received)
    shipped = sum(shipped_units(filters=filters).values())
    returned = sum(returned_units(filters=filters).values())
    values["units_shipped"] = (Decimal(shipped), shipped)
    values["units_requested"] = (Decimal(returned), returned)
    rate = (Decimal(returned) / Decimal(shipped)).quantize(Decimal("0.0001")) if shipped else None
    values["return_rate"] = (rate, shipped)
    latency = refund_latency(filters=filters)
    values["refunds_issued"] = (Decimal(latency.count), latency.count)
    values["refund_latency_median_hours"] = (_hours(latency.median), latency.count)
    accuracy = refund_accuracy(filters=filters)
    values["refund_accuracy"] = (
        None if accuracy.rate is None else Decimal(str(round(accuracy.rate, 4))),
        accuracy.checked,
    )
    if filters.channel_id is None:
        restock = restock_latency(filters=filters)
        values["restock_median_hours"] = (_hours(restock.median), restock.count)
    if with_exceptions:
        opened = ExceptionCase.objects.filter(
            opened_at__gte=filters.since, opened_at__lt=filters.until
        ).count()
        values["exceptions_opened"] = (Decimal(opened), opened)
    return values


@transaction.atomic
def kpi_snapshot_build(*, day: date) -> int:
    """Compute `day`'s KPIs for everything, each active channel, each active warehouse and
    each category; with the parts of the window figures that do not add up (reporting.parts).

    Effects: replaces that day's KpiSnapshot rows (an upsert per metric and dimension, so a
    rebuild is idempotent) with computed_at = now; returns how many rows it wrote.
    """
    now = timezone.now()
    dimensions = {"": KpiFilters(start=day, end=day)}
    for pk in Channel.objects.filter(is_active=True).values_list("pk", flat=True):
        dimensions[f"channel:{pk}"] = KpiFilters(start=day, end=day, channel_id=pk)
    for pk in Warehouse.objects.filter(is_active=True).values_list("pk", flat=True):
        dimensions[f"warehouse:{pk}"] = KpiFilters(start=day, end=day, warehouse_id=pk)
    for pk in Category.objects.values_list("pk", flat=True):
        dimensions[f"category:{pk}"] = KpiFilters(start=day, end=day, category_id=pk)
    rows = [
        KpiSnapshot(
            day=day, metric=metric, dimension=dimension, value=value, count=count, computed_at=now
        )
        for dimension, filters in dimensions.items()
        for metric, (value, count) in _values_for(filters, with_exceptions=not dimension).items()
    ]
    rows += [
        KpiSnapshot(
            day=day,
            metric=metric,
            dimension=dimension,
            breakdown=breakdown,
            count=len(breakdown),
            computed_at=now,
        )
        for dimension, filters in dimensions.items()
        for metric, breakdown in all_parts(filters).items()
    ]
    KpiSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "metric", "dimension"],
        update_fields=["value", "count", "breakdown", "computed_at"],
    )
    return len(rows)


def kpi_snapshots_backfill(*, through: date, days: int = 60) -> list[date]:
    """Build the snapshots of the `days` up to `through` that have none, and always rebuild
    `through` and the day before (still filling when last built); returns the days built.
    Each day is its own transaction."""
    wanted = [through - timedelta(days=n) for n in range(days)]
    have = set(
        KpiSnapshot.objects.filter(day__in=wanted, dimension="")
        .values_list("day", flat=True)
        .distinct()
    )
    fresh = {through, through - timedelta(days=1)}
    built = [day for day in wanted if day not in have or day in fresh]
    for day in sorted(built):
        kpi_snapshot_build(day=day)
    return sorted(built)


@dataclass(frozen=True)
class Trend:
    days: list[date]
    series: dict[str, list[float | None]]
    computed_at: datetime | None
    dimension: str


def trend_dimension(filters: KpiFilters) -> str:
    """The snapshot dimension matching the filters: a channel, else a warehouse, else a
    category, else all (snapshots are per single dimension: with two filters set, the trend is
    the first one's)."""
    if filters.channel_id:
        return f"channel:{filters.channel_id}"
    if filters.warehouse_id:
        return f"warehouse:{filters.warehouse_id}"
    if filters.category_id:
        return f"category:{filters.category_id}"
    return ""


def kpi_trend(*, filters: KpiFilters, metrics: list[str]) -> Trend:
    """Daily values of `metrics` over the window from the snapshots; one query (plus one for
    when they were computed). A day with no snapshot is None."""
    dimension = trend_dimension(filters)
    rows = KpiSnapshot.objects.filter(
        day__gte=filters.start, day__lte=filters.end, dimension=dimension, metric__in=metrics
    ).values_list("day", "metric", "value")
    days = filters.days
    index = {day: n for n, day in enumerate(days)}
    series: dict[str, list[float | None]] = {metric: [None] * len(days) for metric in metrics}
    for day, metric, value in rows:
        series[metric][index[day]] = None if value is None else float(value)
    computed = KpiSnapshot.objects.filter(
        day__gte=filters.start, day__lte=filters.end, dimension=dimension
    ).aggregate(at=Max("computed_at"))["at"]
    return Trend(days=days, series=series, computed_at=computed, dimension=dimension)


FORECAST_KNOWN = "inbound_forecast_known"
FORECAST_FRESH = "inbound_forecast_fresh"


@transaction.atomic
def forecast_snapshot_build(*, as_of: datetime | None = None) -> int:
    """Store the inbound forecast made now: per warehouse and forecast day, the units expected
    from known cases and from returns not yet requested (reporting.forecast).

    Effects: upserts one KpiSnapshot row per (target day, metric, "warehouse:<id>") with
    computed_at = now; a day keeps the last forecast made for it. Returns the rows written.
    """
    now = timezone.now()
    forecast = inbound_forecast(as_of=as_of or now)
    rows = [
        KpiSnapshot(
            day=day,
            metric=metric,
            dimension=f"warehouse:{one.warehouse_id}",
            value=Decimal(str(value)),
            computed_at=now,
        )
        for one in forecast.warehouses
        for metric, series in ((FORECAST_KNOWN, one.pipeline), (FORECAST_FRESH, one.fresh))
        for day, value in zip(forecast.days, series, strict=True)
    ]
    KpiSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "metric", "dimension"],
        update_fields=["value", "count", "computed_at"],
    )
    return len(rows)


@dataclass(frozen=True)
class StoredForecast:
    days: list[date]
    # warehouse name → (known, fresh) per day
    warehouses: dict[str, tuple[list[float], list[float]]]
    computed_at: datetime | None


def forecast_read(*, today: date, warehouse_id: int | None = None) -> StoredForecast:
    """The stored forecast for the 14 days from `today`, per active warehouse; two queries."""
    days = [today + timedelta(days=n) for n in range(HORIZON_DAYS)]
    warehouses = Warehouse.objects.filter(is_active=True).order_by("name")
    if warehouse_id:
        warehouses = warehouses.filter(pk=warehouse_id)
    names = {f"warehouse:{pk}": name for pk, name in warehouses.values_list("pk", "name")}
    rows = KpiSnapshot.objects.filter(
        metric__in=[FORECAST_KNOWN, FORECAST_FRESH],
        dimension__in=list(names),
        day__gte=days[0],
        day__lte=days[-1],
    ).values_list("dimension", "metric", "day", "value", "computed_at")
    index = {day: n for n, day in enumerate(days)}
    series = {name: ([0.0] * len(days), [0.0] * len(days)) for name in names.values()}
    computed = None
    for dimension, metric, day, value, at in rows:
        known, fresh = series[names[dimension]]
        (known if metric == FORECAST_KNOWN else fresh)[index[day]] = float(value or 0)
        computed = max(computed, at) if computed else at
    return StoredForecast(days=days, warehouses=series, computed_at=computed)
