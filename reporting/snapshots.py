"""Build the daily KPI snapshots and read trends from them."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from erp.models import Category, Channel, ExceptionCase, Warehouse
from returns.models import ReturnState
from returns.models.cases import VOID_STATES

from .forecast import HORIZON_DAYS, inbound_forecast
from .kpis import KpiFilters, return_cycle_times
from .kpis.cases import cases_filtered, lines_filtered
from .kpis.queues import OPEN_STATES, StateCount, open_pipeline
from .kpis.refunds import refund_latency
from .kpis.return_rate import returned_units, shipped_units
from .kpis.stock_flow import AGING_BUCKETS, quarantine_buckets
from .models import KpiSnapshot
from .parts import (
    MINUTE,
    PART_METRICS,
    REFUND_ACCURACY,
    RESTOCK,
    TODAY_MAX_AGE,
    accuracy_from_parts,
    all_parts,
    hist_summary,
    snapshot_dimension,
    stock_filters,
)
from .staleness import stale_days

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


def _values_for(filters: KpiFilters, parts: dict, *, with_exceptions: bool) -> dict[str, tuple]:
    """metric → (value, count) for the one-day window in `filters`; `parts` are the same
    window's (reporting.parts), so refund accuracy is not computed twice."""
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
    accuracy = accuracy_from_parts(parts[REFUND_ACCURACY])
    values["refund_accuracy"] = (
        None if accuracy.rate is None else Decimal(str(round(accuracy.rate, 4))),
        accuracy.checked,
    )
    if RESTOCK in parts:
        restock = hist_summary(parts[RESTOCK], MINUTE)
        values["restock_median_hours"] = (_hours(restock.median), restock.count)
    if with_exceptions:
        opened = ExceptionCase.objects.filter(
            opened_at__gte=filters.since, opened_at__lt=filters.until
        ).count()
        values["exceptions_opened"] = (Decimal(opened), opened)
    return values


def snapshot_dimensions(day: date) -> dict[str, KpiFilters]:
    """Everything, each active channel, each active warehouse and each category: the
    dimensions snapshots are stored for, with `day`'s one-day filters."""
    dimensions = {"": KpiFilters(start=day, end=day)}
    for pk in Channel.objects.filter(is_active=True).values_list("pk", flat=True):
        dimensions[f"channel:{pk}"] = KpiFilters(start=day, end=day, channel_id=pk)
    for pk in Warehouse.objects.filter(is_active=True).values_list("pk", flat=True):
        dimensions[f"warehouse:{pk}"] = KpiFilters(start=day, end=day, warehouse_id=pk)
    for pk in Category.objects.values_list("pk", flat=True):
        dimensions[f"category:{pk}"] = KpiFilters(start=day, end=day, category_id=pk)
    return dimensions


@transaction.atomic
def kpi_snapshot_build(*, day: date) -> int:
    """Compute `day`'s KPIs for everything, each active channel, each active warehouse and
    each category; with the parts of the window figures that do not add up (reporting.parts).

    Effects: replaces that day's KpiSnapshot rows (an upsert per metric and dimension, so a
    rebuild is idempotent) with computed_at = now; on today, also the quarantine aging as of
    now (`quarantine_now_read`). Returns how many rows it wrote.
    """
    now = timezone.now()
    dimensions = snapshot_dimensions(day)
    parts = {dimension: all_parts(filters) for dimension, filters in dimensions.items()}
    rows = [
        KpiSnapshot(
            day=day, metric=metric, dimension=dimension, value=value, count=count, computed_at=now
        )
        for dimension, filters in dimensions.items()
        for metric, (value, count) in _values_for(
            filters, parts[dimension], with_exceptions=not dimension
        ).items()
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
        for dimension, by_metric in parts.items()
        for metric, breakdown in by_metric.items()
    ]
    if day == now.date():
        rows += [
            KpiSnapshot(
                day=day,
                metric=QUARANTINE_NOW,
                dimension=dimension,
                breakdown=buckets,
                count=on_hand,
                computed_at=now,
            )
            for dimension, filters in dimensions.items()
            if filters.channel_id is None
            for buckets, on_hand in [quarantine_buckets(filters=filters, now=now)]
        ]
    KpiSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "metric", "dimension"],
        update_fields=["value", "count", "breakdown", "computed_at"],
    )
    return len(rows)


def kpi_snapshots_backfill(*, through: date, days: int = 60) -> list[date]:
    """Build the snapshots of the `days` up to `through` that have none or lack a part metric
    (stored before it was added), and always rebuild `through` and the day before (still
    filling when last built); returns the days built. Each day is its own transaction."""
    wanted = [through - timedelta(days=n) for n in range(days)]
    have = set(
        KpiSnapshot.objects.filter(day__in=wanted, dimension="", metric__in=PART_METRICS)
        .values("day")
        .annotate(n=Count("metric"))
        .filter(n=len(PART_METRICS))
        .values_list("day", flat=True)
    )
    fresh = {through, through - timedelta(days=1)}
    built = [day for day in wanted if day not in have or day in fresh]
    for day in sorted(built):
        kpi_snapshot_build(day=day)
    return sorted(built)


REFRESHED = "snapshots_refreshed"
# Changes are looked for from this long before the last refresh started: a transaction that
# wrote its history row just before and committed just after is still seen.
REFRESH_OVERLAP = timedelta(minutes=10)


def kpi_snapshots_refresh(
    *, today: date, days: int = 60, overlap: timedelta = REFRESH_OVERLAP
) -> list[date]:
    """The hourly job: rebuild the stored days that rows changed since the last refresh made
    stale (reporting.staleness), then `kpi_snapshots_backfill` of the `days` through today;
    returns the days built. The refresh's start is stored (a KpiSnapshot row, metric
    "snapshots_refreshed") only once every day is built, so a run that fails is looked at
    again in full next time.
    """
    started = timezone.now()
    last = KpiSnapshot.objects.filter(metric=REFRESHED).aggregate(at=Max("computed_at"))["at"]
    stale: set[date] = set()
    if last is not None:
        stale = stale_days(since=last - overlap, before=today - timedelta(days=1))
        stored = KpiSnapshot.objects.filter(
            day__in=stale, dimension="", metric="cases_requested"
        ).values_list("day", flat=True)
        stale = set(stored)
    for day in sorted(stale):
        kpi_snapshot_build(day=day)
    built = kpi_snapshots_backfill(through=today, days=days)
    KpiSnapshot.objects.update_or_create(
        day=today, metric=REFRESHED, dimension="", defaults={"computed_at": started}
    )
    return sorted(stale | set(built))


QUARANTINE_NOW = "quarantine_now"


@dataclass(frozen=True)
class QuarantineNow:
    buckets: dict[str, int]  # kpis.stock_flow.AGING_BUCKETS' label → units
    on_hand: int
    as_of: datetime  # when it was counted: the snapshot's build, or now when counted live


def quarantine_now_read(*, filters: KpiFilters, now: datetime | None = None) -> QuarantineNow:
    """`kpis.quarantine_aging`'s buckets and units on hand for the filters' dimension (a
    channel does not apply) as today's snapshot counted them, while younger than
    TODAY_MAX_AGE; else counted live. One query, plus the live count's two."""
    now = now or timezone.now()
    filters = stock_filters(filters)
    dimension = snapshot_dimension(filters)
    stored = None
    if dimension is not None:
        stored = (
            KpiSnapshot.objects.filter(
                metric=QUARANTINE_NOW,
                dimension=dimension,
                day=now.date(),
                computed_at__gte=now - TODAY_MAX_AGE,
            )
            .values_list("breakdown", "count", "computed_at")
            .first()
        )
    if stored is None:
        buckets, on_hand = quarantine_buckets(filters=filters, now=now)
        return QuarantineNow(buckets, on_hand, now)
    buckets, on_hand, at = stored
    # JSONB keeps its keys in its own order: the buckets' is AGING_BUCKETS'.
    return QuarantineNow({label: buckets.get(label, 0) for label, _ in AGING_BUCKETS}, on_hand, at)


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


PIPELINE = "open_pipeline"
# An older stored pipeline is not shown: the page counts live instead (the job has stopped).
PIPELINE_MAX_AGE = timedelta(hours=1)


@transaction.atomic
def pipeline_snapshot_build() -> int:
    """Store the open-returns pipeline as of now (kpis.open_pipeline: open cases per state and
    their value per currency) for every snapshot dimension: counting it reads every open case
    and its lines, too slow for a page once there are tens of thousands.

    Effects: upserts one KpiSnapshot row per dimension, metric "open_pipeline", on today's
    date, breakdown state → [cases, {currency: value}], computed_at = now. Returns the rows.
    """
    now = timezone.now()
    rows = [
        KpiSnapshot(
            day=now.date(),
            metric=PIPELINE,
            dimension=dimension,
            breakdown={
                row.state: [row.cases, {cur: str(v) for cur, v in row.value_by_currency.items()}]
                for row in open_pipeline(filters=filters)
            },
            computed_at=now,
        )
        for dimension, filters in snapshot_dimensions(now.date()).items()
    ]
    KpiSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "metric", "dimension"],
        update_fields=["breakdown", "computed_at"],
    )
    return len(rows)


@dataclass(frozen=True)
class Pipeline:
    rows: list[StateCount]
    as_of: datetime  # when it was counted: the snapshot's build, or now when counted live


def pipeline_read(*, filters: KpiFilters, now: datetime | None = None) -> Pipeline:
    """The open pipeline for the filters' dimension as the snapshot job last stored it, when
    that was within PIPELINE_MAX_AGE; else counted live (kpis.open_pipeline). One query, plus
    one when counted live."""
    now = now or timezone.now()
    dimension = snapshot_dimension(filters)
    stored = None
    if dimension is not None:
        stored = (
            KpiSnapshot.objects.filter(
                metric=PIPELINE, dimension=dimension, computed_at__gte=now - PIPELINE_MAX_AGE
            )
            .order_by("-day")
            .values_list("breakdown", "computed_at")
            .first()
        )
    if stored is None:
        return Pipeline(open_pipeline(filters=filters), now)
    breakdown, at = stored
    labels = dict(ReturnState.choices)
    rows = []
    for state in OPEN_STATES:
        cases, values = breakdown.get(state, [0, {}])
        rows.append(
            StateCount(state, labels[state], cases, {cur: Decimal(v) for cur, v in values.items()})
        )
    return Pipeline(rows, at)
