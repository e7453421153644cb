"""Window figures made of daily parts, so a dashboard reads them from the daily snapshots.

A median does not add up over days, but a histogram does; a per-SKU return rate does not,
but its shipped and returned units do. Each "parts" function computes one day's (or any
window's) parts; the snapshot job stores them in `KpiSnapshot.breakdown`, and
`window_parts` adds the stored days up and computes live only the days not stored yet
(today, a day the job has not reached).

Cycle-time percentiles read from histograms of whole hours: each duration counts as the
middle of its hour, so a median or p90 is exact to within half an hour. Restock latency and
quarantine stays read from histograms of whole minutes (exact to within half a minute), and
are stored for everything, each warehouse and each category: a channel does not apply to
stock (`stock_filters`).
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Func, IntegerField, Q, QuerySet, Sum
from django.utils import timezone

from returns.models.cases import VOID_STATES

from .kpis.cases import cases_filtered, lines_filtered
from .kpis.cycle_time import STAGES, Stage
from .kpis.filters import KpiFilters
from .kpis.recovery import OUTCOME_LABELS, RecoveryRow, recovery_by_disposition
from .kpis.refunds import RefundAccuracy, refund_accuracy, refunds_issued
from .kpis.return_rate import shipped_units
from .kpis.stats import DurationSummary, duration, on_postgresql
from .kpis.stock_flow import quarantine_releases, restocks
from .models import KpiSnapshot

INSPECTION_TO_REFUND = Stage(
    "inspection_to_refund", "Inspection to refund", "case__inspected_at", "issued_at"
)
ALL_STAGES = (*STAGES, INSPECTION_TO_REFUND)
REASON_DIMENSIONS = {
    "channel": "case__channel_id",
    "sku": "order_line__product_id",
    "category": "order_line__product__category_id",
}


def hist_metric(stage_key: str) -> str:
    return f"cycle_{stage_key}_hist"


def reasons_metric(by: str) -> str:
    return f"reasons_{by}"


SKU_RATES = "sku_rates"
REFUND_LATENCY = "refund_latency_hist"
REFUND_ACCURACY = "refund_accuracy_parts"
RESTOCK = "restock_minutes_hist"
QUARANTINE_RELEASED = "quarantine_released_minutes_hist"
RECOVERY = "recovery_parts"
STOCK_METRICS = (RESTOCK, QUARANTINE_RELEASED)
PART_METRICS = [
    *(hist_metric(stage.key) for stage in ALL_STAGES),
    *(reasons_metric(by) for by in REASON_DIMENSIONS),
    SKU_RATES,
    REFUND_LATENCY,
    REFUND_ACCURACY,
    *STOCK_METRICS,
    RECOVERY,
]
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# RefundAccuracy's counts, and its money in cents (a JSON number adds up exactly as an int).
CENT = Decimal("0.01")
ACCURACY_COUNTS = ("issued", "accurate", "reversed", "mismatched", "unverified")


class HourBucket(Func):
    template = "FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / 3600)"
    output_field = IntegerField()


def _histogram(rows: QuerySet, start: str, end: str, filters: KpiFilters) -> dict[str, int]:
    counted = rows.filter(
        **{
            f"{start}__isnull": False,
            f"{end}__gte": filters.since,
            f"{end}__lt": filters.until,
        }
    )
    if on_postgresql():
        pairs = (
            counted.annotate(hour=HourBucket(duration(start, end)))
            .order_by()
            .values_list("hour")
            .annotate(n=Count("pk"))
        )
        return {str(int(hour)): n for hour, n in pairs}
    hist: dict[str, int] = defaultdict(int)
    for begin, finish in counted.values_list(start, end):
        hist[str(int((finish - begin).total_seconds() // 3600))] += 1
    return dict(hist)


def cycle_parts(filters: KpiFilters) -> dict[str, dict]:
    """Per stage (return_cycle_times' definitions, and the inspection-to-refund stage of
    `kpis.refunds.inspection_to_refund`), the histogram hours → cases of the durations whose
    end falls in the window. One query per stage."""
    cases = cases_filtered(filters)
    parts = {
        hist_metric(stage.key): _histogram(cases, stage.start, stage.end, filters)
        for stage in STAGES
    }
    refunds = refunds_issued(filters).filter(issued_at__gte=F("case__inspected_at"))
    parts[hist_metric(INSPECTION_TO_REFUND.key)] = _histogram(
        refunds, INSPECTION_TO_REFUND.start, INSPECTION_TO_REFUND.end, filters
    )
    return parts


def reasons_parts(filters: KpiFilters, by: str) -> dict[str, list[int]]:
    """`kpis.return_reasons`' figures as "<dimension id>|<reason id>" → [lines, units]."""
    key = REASON_DIMENSIONS[by]
    rows = (
        lines_filtered(filters)
        .filter(case__requested_at__gte=filters.since, case__requested_at__lt=filters.until)
        .exclude(case__state__in=VOID_STATES)
        .order_by()
        .values_list(key, "reason_id")
        .annotate(lines=Count("pk"), units=Sum("quantity"))
    )
    return {f"{dim}|{reason}": [lines, units] for dim, reason, lines, units in rows}


def sku_parts(filters: KpiFilters) -> dict[str, list[int]]:
    """`kpis.sku_return_rates`' figures as SKU id → [shipped units, returned units]."""
    parts: dict[str, list[int]] = {}
    for pk, units in shipped_units(filters=filters).items():
        parts[str(pk)] = [units, 0]
    rows = (
        lines_filtered(filters)
        .filter(case__requested_at__gte=filters.since, case__requested_at__lt=filters.until)
        .exclude(case__state__in=VOID_STATES)
        .order_by()
        .values_list("order_line__product_id")
        .annotate(n=Sum("quantity"))
    )
    for pk, units in rows:
        parts.setdefault(str(pk), [0, 0])[1] = units
    return parts


def refund_parts(filters: KpiFilters) -> dict[str, dict]:
    """`kpis.refunds.refund_latency` as a histogram hours → refunds, and
    `kpis.refunds.refund_accuracy` as its counts and cents over and under, of the refunds
    issued in the window: both add up over days."""
    latency = _histogram(refunds_issued(filters), "proposed_at", "issued_at", filters)
    accuracy = refund_accuracy(filters=filters)
    counts = {name: getattr(accuracy, name) for name in ACCURACY_COUNTS}
    counts["over_cents"] = int(accuracy.over_refunded * 100)
    counts["under_cents"] = int(accuracy.under_refunded * 100)
    return {REFUND_LATENCY: latency, REFUND_ACCURACY: counts}


def accuracy_from_parts(part: dict) -> RefundAccuracy:
    return RefundAccuracy(
        **{name: part.get(name, 0) for name in ACCURACY_COUNTS},
        over_refunded=(Decimal(part.get("over_cents", 0)) / 100).quantize(CENT),
        under_refunded=(Decimal(part.get("under_cents", 0)) / 100).quantize(CENT),
    )


def stock_filters(filters: KpiFilters) -> KpiFilters:
    """The filters stock figures answer: a channel does not apply to stock."""
    return replace(filters, channel_id=None)


def minutes_hist(stays: list[tuple]) -> dict[str, int]:
    """(duration, units) pairs as a histogram whole minutes → units."""
    hist: dict[str, int] = defaultdict(int)
    for spent, units in stays:
        hist[str(int(spent.total_seconds() // 60))] += units
    return dict(hist)


def stock_parts(filters: KpiFilters) -> dict[str, dict]:
    """`kpis.restock_latency` and `kpis.quarantine_aging`'s released units as histograms
    minutes → units of the units leaving the state in the window (matched against the
    movements of 90 and 365 days before it); none for a channel, which stock has not."""
    if filters.channel_id is not None:
        return {}
    return {
        RESTOCK: minutes_hist(restocks(filters)),
        QUARANTINE_RELEASED: minutes_hist(quarantine_releases(filters)),
    }


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def recovery_parts(filters: KpiFilters) -> dict[str, list[int]]:
    """`kpis.recovery.recovery_by_disposition` as "<outcome>|<currency>" → [units, returned
    value, expected recovery, realized recovery] (money in cents), of the units whose current
    disposition was decided in the window: adds up over days. Two queries."""
    return {
        f"{row.outcome}|{row.currency}": [
            row.units,
            _cents(row.returned_value),
            _cents(row.expected),
            _cents(row.realized),
        ]
        for row in recovery_by_disposition(filters=filters)
    }


def recovery_from_parts(part: dict) -> list[RecoveryRow]:
    """`recovery_by_disposition`'s rows, in its order, from `recovery_parts`."""
    rows = []
    for key, (units, returned, expected, realized) in part.items():
        outcome, currency = key.split("|", 1)
        rows.append(
            RecoveryRow(
                outcome=outcome,
                currency=currency,
                units=units,
                returned_value=(Decimal(returned) / 100).quantize(CENT),
                expected=(Decimal(expected) / 100).quantize(CENT),
                realized=(Decimal(realized) / 100).quantize(CENT),
            )
        )
    order = {outcome: n for n, outcome in enumerate(OUTCOME_LABELS)}
    return sorted(rows, key=lambda row: (order.get(row.outcome, 99), row.currency))


def all_parts(filters: KpiFilters, metrics=None) -> dict[str, dict]:
    wanted = set(metrics or PART_METRICS)
    parts = {}
    if wanted & {hist_metric(stage.key) for stage in ALL_STAGES}:
        parts.update(cycle_parts(filters))
    for by in REASON_DIMENSIONS:
        if reasons_metric(by) in wanted:
            parts[reasons_metric(by)] = reasons_parts(filters, by)
    if SKU_RATES in wanted:
        parts[SKU_RATES] = sku_parts(filters)
    if wanted & {REFUND_LATENCY, REFUND_ACCURACY}:
        parts.update(refund_parts(filters))
    if wanted & set(STOCK_METRICS):
        parts.update(stock_parts(filters))
    if RECOVERY in wanted:
        parts[RECOVERY] = recovery_parts(filters)
    return {metric: value for metric, value in parts.items() if metric in wanted}


def snapshot_dimension(filters: KpiFilters) -> str | None:
    """The snapshot dimension that answers the filters: "" (all), a channel, a warehouse or a
    category; None when more than one is set (snapshots are per single dimension)."""
    set_ = [
        (name, value)
        for name, value in (
            ("channel", filters.channel_id),
            ("warehouse", filters.warehouse_id),
            ("category", filters.category_id),
        )
        if value
    ]
    if not set_:
        return ""
    if len(set_) > 1:
        return None
    name, value = set_[0]
    return f"{name}:{value}"


def add_parts(into: dict, more: dict) -> None:
    """Add one day's parts into the window's: numbers add, lists add element by element (a
    hot loop: a month of per-SKU parts is tens of thousands of keys)."""
    for key, value in more.items():
        have = into.get(key)
        if have is None:
            into[key] = list(value) if type(value) is list else value
        elif type(value) is list:
            into[key] = [a + b for a, b in zip(have, value, strict=True)]
        else:
            into[key] = have + value


@dataclass
class WindowParts:
    parts: dict[str, dict]
    snapshot_days: int
    live_days: list[date]
    computed_at: datetime | None


# Today's snapshot (rebuilt by the hourly job) answers for today while it is this young; older,
# today is computed live. Live, today's per-SKU and per-reason figures join every return line
# of the day's cases (about 120 ms at a million cases, whatever plan PostgreSQL picks) and its
# stock flows match a day's movements against 90 days of them (seconds at a million cases). The
# margin over the hour covers the next build: at a million cases one day takes about a minute,
# and with a one-hour limit every page computed today live from the hour until it finished.
TODAY_MAX_AGE = timedelta(minutes=90)


def window_parts(*, filters: KpiFilters, metrics: list[str], today: date | None = None):
    """The parts of `metrics` over the window: the stored days from the snapshots in one query
    (today's only while younger than TODAY_MAX_AGE), the rest computed live, one run of
    consecutive days at a time."""
    today = today or timezone.now().date()
    dimension = snapshot_dimension(filters)
    merged: dict[str, dict] = {metric: {} for metric in metrics}
    stored: dict[date, set[str]] = defaultdict(set)
    computed = None
    if dimension is not None:
        rows = KpiSnapshot.objects.filter(
            Q(day__lt=today) | Q(day=today, computed_at__gte=timezone.now() - TODAY_MAX_AGE),
            day__gte=filters.start,
            day__lte=min(filters.end, today),
            dimension=dimension,
            metric__in=metrics,
        )
        summed_in_sql = on_postgresql()
        fields = ("day", "metric", "computed_at") + (() if summed_in_sql else ("breakdown",))
        for day, metric, at, *breakdown in rows.values_list(*fields):
            if not summed_in_sql:
                add_parts(merged[metric], breakdown[0] or {})
            stored[day].add(metric)
            computed = max(computed, at) if computed else at
        if summed_in_sql and stored:
            for metric, parts in _stored_sums(rows).items():
                merged[metric] = parts
    missing = [day for day in filters.days if stored.get(day) != set(metrics)]
    for run in _runs(missing):
        live = KpiFilters(
            start=run[0],
            end=run[-1],
            channel_id=filters.channel_id,
            warehouse_id=filters.warehouse_id,
            category_id=filters.category_id,
        )
        # A day stored only in part is recomputed whole: drop what was added for it.
        partial = [day for day in run if stored.get(day)]
        if partial:
            return WindowParts(all_parts(filters, metrics), 0, filters.days, timezone.now())
        for metric, value in all_parts(live, metrics).items():
            add_parts(merged[metric], value)
    return WindowParts(merged, len(stored), missing, computed)


# The stored parts of the selected snapshot rows added up by PostgreSQL: a month of per-SKU
# parts is tens of thousands of keys, which Python adds ten times slower. Parts are numbers or
# lists of two to four numbers (reasons: lines and units; SKUs: shipped and returned; recovery:
# units and three sums of money).
STORED_SUMS_SQL = """
SELECT s.metric, e.key, jsonb_typeof(e.value) = 'array',
    SUM(CASE WHEN jsonb_typeof(e.value) = 'number' THEN (e.value #>> '{}')::bigint END),
    SUM((e.value ->> 0)::bigint), SUM((e.value ->> 1)::bigint),
    SUM((e.value ->> 2)::bigint), SUM((e.value ->> 3)::bigint)
FROM (%s) s CROSS JOIN LATERAL jsonb_each(s.breakdown) e
GROUP BY 1, 2, 3
"""


def _stored_sums(rows: QuerySet) -> dict[str, dict]:
    """metric → its parts summed over `rows` (KpiSnapshot rows); one query."""
    inner, params = (
        rows.filter(breakdown__isnull=False).values("metric", "breakdown").query.sql_with_params()
    )
    sums: dict[str, dict] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(STORED_SUMS_SQL % inner, params)
        for metric, key, is_list, number, *items in cursor.fetchall():
            sums[metric][key] = (
                [int(item) for item in items if item is not None] if is_list else int(number)
            )
    return sums


def _runs(days: list[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def hist_percentile(hist: dict, fraction: float) -> float | None:
    """percentile_cont over the durations a histogram of whole buckets (hours, minutes)
    stands for, each at the middle of its bucket, in buckets; None when empty."""
    buckets = sorted((int(hour), n) for hour, n in hist.items() if n)
    total = sum(n for _, n in buckets)
    if not total:
        return None
    position = fraction * (total - 1)
    lower = int(position)

    def nth(k: int) -> float:
        seen = 0
        for hour, n in buckets:
            seen += n
            if k < seen:
                return hour + 0.5
        return buckets[-1][0] + 0.5

    low, high = nth(lower), nth(min(lower + 1, total - 1))
    return low + (high - low) * (position - lower)


def hist_summary(hist: dict, bucket: timedelta = HOUR) -> DurationSummary:
    median, p90 = hist_percentile(hist, 0.5), hist_percentile(hist, 0.9)
    return DurationSummary(
        count=sum(hist.values()),
        median=None if median is None else bucket * median,
        p90=None if p90 is None else bucket * p90,
    )


def stage_summaries(parts: dict[str, dict]) -> list[tuple[Stage, DurationSummary]]:
    return [
        (stage, hist_summary(parts.get(hist_metric(stage.key), {})))
        for stage in ALL_STAGES
        if hist_metric(stage.key) in parts
    ]
