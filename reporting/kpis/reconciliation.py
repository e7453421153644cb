"""Reconciliation variance: how far our stock figures are from the 3PLs', marketplaces' and
channels', in units and value, and how much of it in-flight events explain."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Abs, TruncDate

from inventory.models import (
    Bucket,
    ReconciliationVariance,
    SnapshotSource,
    VarianceStatus,
    VarianceTrendPoint,
)

from .filters import KpiFilters

SOURCE_LABELS = dict(SnapshotSource.choices)
BUCKET_LABELS = dict(Bucket.choices)
MONEY = DecimalField(max_digits=18, decimal_places=2)


@dataclass(frozen=True)
class VarianceRow:
    source: str
    bucket: str
    keys: int
    over_tolerance: int
    variance_units: int
    explained_units: int
    unexplained_units: int
    variance_value: Decimal
    explained_value: Decimal
    unexplained_value: Decimal

    @property
    def label(self) -> str:
        source = SOURCE_LABELS.get(self.source, self.source)
        return f"{source} · {BUCKET_LABELS.get(self.bucket, self.bucket)}"

    @property
    def explained_share(self) -> float | None:
        return self.explained_units / self.variance_units if self.variance_units else None


def reconciliation_variance(*, filters: KpiFilters) -> list[VarianceRow]:
    """The current variance of every compared key (inventory's ReconciliationVariance: the
    last comparison of each source, bucket, SKU and warehouse or channel), keys that match
    left out, per source and bucket. Not a window figure: variances are a state, as of the
    last reconciliation run. Filters: warehouse = the key's warehouse (sellable and on-hand
    buckets), channel = the key's channel (the ATS bucket), category = the SKU's.

    For each key, difference = external - ours = explained + unexplained (same sign), where
    explained is what in-flight events account for (our movements after the snapshot, units
    awaiting the 3PL's disposition report, returns in transit, ATS not yet acknowledged).
    Units are sums of absolute values (a +3 and a -3 are 6 units off, not 0); value is units x
    the SKU's unit cost as the run recorded it. Over tolerance: keys whose unexplained part
    exceeds the tolerance (each opens an exception). One query.
    """
    variances = ReconciliationVariance.objects.exclude(status=VarianceStatus.MATCHED)
    if filters.warehouse_id:
        variances = variances.filter(warehouse_id=filters.warehouse_id)
    if filters.channel_id:
        variances = variances.filter(channel_id=filters.channel_id)
    if filters.category_id:
        variances = variances.filter(product__category_id=filters.category_id)

    def value(units: str) -> ExpressionWrapper:
        return ExpressionWrapper(Abs(units) * F("unit_cost"), output_field=MONEY)

    rows = (
        variances.values("source", "bucket")
        .annotate(
            keys=Count("pk"),
            over=Count("pk", filter=Q(status=VarianceStatus.OVER_TOLERANCE)),
            variance_units=Sum(Abs("difference")),
            explained_units=Sum(Abs("explained")),
            unexplained_units=Sum(Abs("unexplained")),
            variance_value=Sum(value("difference")),
            explained_value=Sum(value("explained")),
            unexplained_value=Sum("unexplained_value"),
        )
        .order_by("source", "bucket")
    )
    return [
        VarianceRow(
            source=row["source"],
            bucket=row["bucket"],
            keys=row["keys"],
            over_tolerance=row["over"],
            variance_units=row["variance_units"] or 0,
            explained_units=row["explained_units"] or 0,
            unexplained_units=row["unexplained_units"] or 0,
            variance_value=_money(row["variance_value"]),
            explained_value=_money(row["explained_value"]),
            unexplained_value=_money(row["unexplained_value"]),
        )
        for row in rows
    ]


def _money(value) -> Decimal:
    return Decimal("0.00") if value is None else value


@dataclass
class VarianceTrend:
    days: list[date]
    # source → (variance units, unexplained units) per day, None for a day with no run
    sources: dict[str, tuple[list[int | None], list[int | None]]] = field(default_factory=dict)


def reconciliation_variance_trend(*, filters: KpiFilters) -> VarianceTrend:
    """Per source and day of the window, the variance and unexplained units (Σ |difference|,
    Σ |unexplained|) at the day's last reconciliation run (inventory's VarianceTrendPoint,
    written at the end of each run; every key of the source, the filters other than the dates
    do not apply). One query."""
    days = filters.days
    index = {day: n for n, day in enumerate(days)}
    trend = VarianceTrend(days=days)
    points = (
        VarianceTrendPoint.objects.filter(at__gte=filters.since, at__lt=filters.until)
        .annotate(day=TruncDate("at"))
        .order_by("source", "at", "pk")
        .values_list("source", "day", "variance_units", "unexplained_units")
    )
    series: dict[str, tuple[list, list]] = defaultdict(
        lambda: ([None] * len(days), [None] * len(days))
    )
    for source, day, total, unexplained in points:
        if day in index:  # later points of a day overwrite earlier ones
            series[source][0][index[day]] = total
            series[source][1][index[day]] = unexplained
    trend.sources = dict(series)
    return trend
