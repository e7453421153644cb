"""Reads for the control tower: per-source totals, trend, aging, top unexplained variances,
runs, and one variance with the events behind it. Each is a fixed number of queries whatever
the number of variances, snapshots or runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Abs
from django.utils import timezone

from erp.models import ExceptionCase
from erp.models.exceptions import ExceptionKind, SubjectType

from ..models import (
    ExternalSnapshot,
    ReconciliationRun,
    ReconciliationVariance,
    SnapshotSource,
    VarianceCorrection,
    VarianceStatus,
    VarianceTrendPoint,
)
from .explanations import COMPONENTS, Evidence, variance_evidence

TOP_VARIANCES = 20
RECENT_RUNS = 10
TREND_POINTS = 60
# Age bands of unexplained variances (upper bound, label).
AGING_BANDS = (
    (timedelta(days=1), "Under a day"),
    (timedelta(days=3), "1–3 days"),
    (timedelta(days=7), "3–7 days"),
    (None, "Over a week"),
)
SOURCE_COLOURS = {
    SnapshotSource.SHIPHERO: "#1f5fbf",
    SnapshotSource.SHIPBOB: "#2f9e6f",
    SnapshotSource.EXTENSIV: "#b7791f",
    SnapshotSource.AMAZON_FBA: "#c05621",
    SnapshotSource.STOREFRONT: "#7b4fb8",
}


@dataclass
class SourceSummary:
    source: str
    label: str
    keys: int = 0
    variance_units: int = 0
    unexplained_units: int = 0
    unexplained_value: Decimal = Decimal("0")
    over_tolerance: int = 0
    last_snapshot_at: datetime | None = None


@dataclass
class ControlTower:
    sources: list[SourceSummary]
    top: list[ReconciliationVariance]
    aging: list[tuple[str, int, Decimal]]
    runs: list[ReconciliationRun]
    units_chart: dict = field(default_factory=dict)
    value_chart: dict = field(default_factory=dict)

    @property
    def totals(self) -> SourceSummary:
        total = SourceSummary("", "All sources")
        for s in self.sources:
            total.keys += s.keys
            total.unexplained_units += s.unexplained_units
            total.unexplained_value += s.unexplained_value
            total.over_tolerance += s.over_tolerance
        return total


def control_tower(*, now: datetime | None = None) -> ControlTower:
    now = now or timezone.now()
    labels = dict(SnapshotSource.choices)
    summaries = {
        row["source"]: SourceSummary(
            source=row["source"],
            label=labels.get(row["source"], row["source"]),
            keys=row["keys"],
            variance_units=row["variance_units"] or 0,
            unexplained_units=row["unexplained_units"] or 0,
            unexplained_value=row["unexplained_value"] or Decimal("0"),
            over_tolerance=row["over"],
        )
        for row in ReconciliationVariance.objects.exclude(status=VarianceStatus.MATCHED)
        .values("source")
        .annotate(
            keys=Count("id"),
            variance_units=Sum(Abs("difference")),
            unexplained_units=Sum(Abs("unexplained")),
            unexplained_value=Sum("unexplained_value"),
            over=Count("id", filter=Q(status=VarianceStatus.OVER_TOLERANCE)),
        )
        .order_by()
    }
    for source, last in (
        ExternalSnapshot.objects.values("source")
        .annotate(last=Max("taken_at"))
        .values_list("source", "last")
    ):
        summaries.setdefault(source, SourceSummary(source, labels.get(source, source)))
        summaries[source].last_snapshot_at = last
    top = list(
        ReconciliationVariance.objects.exclude(unexplained=0)
        .select_related("product", "warehouse", "channel")
        .order_by("-unexplained_value", "-unexplained_since", "pk")[:TOP_VARIANCES]
    )
    runs = list(
        ReconciliationRun.objects.select_related("requested_by").order_by("-created_at", "-id")[
            :RECENT_RUNS
        ]
    )
    units_chart, value_chart = _trend_charts()
    return ControlTower(
        sources=sorted(summaries.values(), key=lambda s: s.label),
        top=top,
        aging=_aging(now),
        runs=runs,
        units_chart=units_chart,
        value_chart=value_chart,
    )


def _aging(now: datetime) -> list[tuple[str, int, Decimal]]:
    """(band, variances, value) of the unexplained variances by how long they have been so."""
    aggregates, lower = {}, None
    for index, (upper, _) in enumerate(AGING_BANDS):
        band = Q()
        if upper is not None:
            band &= Q(unexplained_since__gt=now - upper)
        if lower is not None:
            band &= Q(unexplained_since__lte=now - lower)
        aggregates[f"n{index}"] = Count("id", filter=band)
        aggregates[f"v{index}"] = Sum("unexplained_value", filter=band)
        lower = upper
    row = ReconciliationVariance.objects.filter(unexplained_since__isnull=False).aggregate(
        **aggregates
    )
    return [
        (label, row[f"n{i}"], row[f"v{i}"] or Decimal("0"))
        for i, (_, label) in enumerate(AGING_BANDS)
    ]


def _trend_charts() -> tuple[dict, dict]:
    """Two step charts (unexplained units, unexplained value) with one series per source over
    the last TREND_POINTS runs that wrote points."""
    points = list(
        VarianceTrendPoint.objects.order_by("-at", "-id").values_list(
            "at", "source", "unexplained_units", "unexplained_value"
        )[: TREND_POINTS * len(SnapshotSource)]
    )
    points.reverse()
    moments = sorted({at for at, *_ in points})[-TREND_POINTS:]
    if not moments:
        return {}, {}
    index = {at: i for i, at in enumerate(moments)}
    labels = dict(SnapshotSource.choices)
    units: dict[str, list] = {}
    values: dict[str, list] = {}
    for at, source, unit_total, value_total in points:
        if at not in index:
            continue
        units.setdefault(source, [None] * len(moments))[index[at]] = unit_total
        values.setdefault(source, [None] * len(moments))[index[at]] = float(value_total)
    axis = [timezone.localtime(at).strftime("%d %b %H:%M") for at in moments]

    def chart(series: dict[str, list]) -> dict:
        return {
            "labels": axis,
            "datasets": [
                {
                    "label": labels.get(source, source),
                    "values": _carry_forward(vals),
                    "colour": SOURCE_COLOURS.get(source, "#5b6778"),
                }
                for source, vals in sorted(series.items())
            ],
        }

    return chart(units), chart(values)


def _carry_forward(values: list) -> list:
    """A source without a point at a moment still had its last figure then."""
    last, filled = None, []
    for value in values:
        last = value if value is not None else last
        filled.append(last)
    return filled


def variance_list(*, status: str = "", source: str = "") -> QuerySet[ReconciliationVariance]:
    rows = ReconciliationVariance.objects.exclude(status=VarianceStatus.MATCHED)
    if status:
        rows = rows.filter(status=status)
    if source:
        rows = rows.filter(source=source)
    return rows.select_related("product", "warehouse", "channel").order_by(
        "-unexplained_value", "pk"
    )


@dataclass
class VarianceDrilldown:
    variance: ReconciliationVariance
    components: list[tuple[str, str, int]]
    evidence: Evidence
    exception: ExceptionCase | None
    corrections: list[VarianceCorrection]


def variance_get(*, pk: int) -> VarianceDrilldown:
    """One variance, what explains it and the events behind it; raises DoesNotExist."""
    variance = ReconciliationVariance.objects.select_related(
        "product", "warehouse", "channel", "snapshot", "run"
    ).get(pk=pk)
    # The latest, open or closed: a cleared variance still shows what was raised about it.
    exception = (
        ExceptionCase.objects.filter(
            kind=ExceptionKind.RECONCILIATION_VARIANCE,
            subject_type=SubjectType.VARIANCE,
            subject_id=str(pk),
        )
        .order_by("-opened_at")
        .first()
    )
    return VarianceDrilldown(
        variance=variance,
        components=[(name, label, getattr(variance, name)) for name, label in COMPONENTS],
        evidence=variance_evidence(variance),
        exception=exception,
        corrections=list(variance.corrections.select_related("accepted_by", "location")),
    )


def run_get(*, pk: int) -> ReconciliationRun:
    return ReconciliationRun.objects.select_related("requested_by").get(pk=pk)


def run_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("requested_by").order_by("-created_at", "-id")
