"""The tables and charts dashboards are made of, each built from one KPI selector."""

from collections import defaultdict
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from erp.models import ExceptionCase, ReasonCode
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind
from returns.models import ReturnState

from . import kpis
from .anomaly import Thresholds
from .kpis import KpiFilters
from .snapshots import METRICS, Trend, forecast_read
from .tables import Cell, Chart, Column, Stat, Table

GROUP_LABELS = dict(ReasonCode.Group.choices)


def cases_link(filters: KpiFilters, **extra) -> str:
    return f"{reverse('dashboard_cases')}?{urlencode({**filters.as_query(), **extra})}"


def _hours(value: float | None) -> Cell:
    return Cell(None if value is None else round(value, 1))


def cycle_time_table(filters: KpiFilters, stages=None) -> Table:
    rows = []
    for item in kpis.return_cycle_times(filters=filters):
        if stages and item.stage.key not in stages:
            continue
        summary = item.summary
        rows.append(
            [
                Cell(item.stage.label),
                Cell(summary.count, href=cases_link(filters, stage=item.stage.key)),
                _hours(summary.median_hours),
                _hours(summary.p90_hours),
            ]
        )
    return Table(
        "cycle-time",
        "Return cycle time",
        [
            Column("Stage"),
            Column("Cases", True),
            Column("Median (h)", True),
            Column("p90 (h)", True),
        ],
        rows,
        note="Cases whose stage ended in the window.",
    )


def trend_chart(trend: Trend, metrics: list[str], title: str, slug: str, kind="line") -> Chart:
    note = "From daily snapshots"
    if trend.dimension.startswith("channel"):
        note += ", this channel"
    elif trend.dimension.startswith("warehouse"):
        note += ", this warehouse"
    return Chart(
        slug,
        title,
        [day.isoformat() for day in trend.days],
        [{"label": METRICS[m], "values": trend.series[m]} for m in metrics],
        kind=kind,
        note=note,
        description=f"{title} per day, {trend.days[0]} to {trend.days[-1]}",
    )


def reasons_table(filters: KpiFilters, by: str) -> tuple[Table, Chart]:
    rows = kpis.return_reasons(filters=filters, by=by)
    title = {"channel": "Channel", "sku": "SKU", "category": "Category"}[by]
    table = Table(
        f"reasons-by-{by}",
        f"Return reasons by {title.lower()}",
        [
            Column(title),
            Column("Reason"),
            Column("Group"),
            Column("Lines", True),
            Column("Units", True),
        ],
        [
            [
                Cell(row.dimension),
                Cell(row.reason_code, text=row.reason),
                Cell(row.group, text=GROUP_LABELS.get(row.group, row.group)),
                Cell(row.lines),
                Cell(
                    row.units,
                    href=cases_link(filters, reason=row.reason_code, **{by: row.dimension_id}),
                ),
            ]
            for row in rows
        ],
    )
    dimensions = sorted({row.dimension for row in rows})
    by_group: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        by_group[row.group][row.dimension] += row.units
    chart = Chart(
        f"reasons-by-{by}-chart",
        f"Returned units by reason group and {title.lower()}",
        dimensions,
        [
            {
                "label": GROUP_LABELS.get(group, group),
                "values": [units[d] for d in dimensions],
            }
            for group, units in sorted(by_group.items())
        ],
        description=f"Bar chart of returned units per reason group for each {title.lower()}",
    )
    return table, chart


def return_rate_table(filters: KpiFilters, limit: int = 20) -> Table:
    rows = kpis.sku_return_rates(filters=filters, limit=limit)
    return Table(
        "return-rate",
        "Return rate per SKU",
        [
            Column("SKU"),
            Column("Name"),
            Column("Shipped", True),
            Column("Returned", True),
            Column("Rate", True),
        ],
        [
            [
                Cell(row.sku),
                Cell(row.name),
                Cell(row.shipped),
                Cell(row.returned, href=cases_link(filters, sku=row.product_id)),
                Cell(row.rate, text="—" if row.rate is None else f"{row.rate * 100:.1f}%"),
            ]
            for row in rows
        ],
        note="Units returned ÷ units shipped in the window; highest first.",
    )


def exceptions_table(filters: KpiFilters) -> tuple[Table, Chart]:
    rows = kpis.exception_volume_by_kind(filters=filters)
    exception_list = reverse("exception_list")
    table = Table(
        "exceptions",
        "Exceptions by kind",
        [
            Column("Kind"),
            Column("Opened", True),
            Column("Closed", True),
            Column("Active", True),
            Column("Overdue", True),
            *[Column(label, True) for label in kpis.exceptions.AGE_LABELS],
        ],
        [
            [
                Cell(row.label),
                Cell(row.opened),
                Cell(row.closed),
                Cell(row.active, href=f"{exception_list}?kind={row.kind}"),
                Cell(row.overdue, href=f"{exception_list}?kind={row.kind}&overdue=on"),
                *[Cell(n) for n in row.by_age],
            ]
            for row in rows
        ],
        note="Opened and closed in the window; active, overdue and ages as of now.",
    )
    chart = Chart(
        "exceptions-chart",
        "Active exceptions by age",
        [row.label for row in rows],
        [
            {"label": label, "values": [row.by_age[n] for row in rows]}
            for n, label in enumerate(kpis.exceptions.AGE_LABELS)
        ],
        description="Bar chart of active exceptions per kind, by age",
    )
    return table, chart


def quarantine_section(filters: KpiFilters) -> tuple[Table, Stat, Stat]:
    aging = kpis.quarantine_aging(filters=filters)
    restock = kpis.restock_latency(filters=filters)
    table = Table(
        "quarantine-aging",
        "Quarantine aging",
        [Column("Time in quarantine"), Column("Units", True)],
        [[Cell(bucket.label), Cell(bucket.units)] for bucket in aging.buckets],
        note=f"{aging.on_hand} units in quarantine now.",
    )
    restock_stat = Stat(
        "Restock latency, median",
        "—" if restock.median is None else f"{restock.median_hours:.1f} h",
        hint=f"p90 {restock.p90_hours:.1f} h · {restock.count} units"
        if restock.count
        else "No units restocked",
    )
    released = aging.released
    release_stat = Stat(
        "Quarantine stay, released",
        "—" if released.median is None else f"{released.median_hours:.1f} h",
        hint=f"median of {released.count} units" if released.count else "None released",
    )
    return table, restock_stat, release_stat


def pipeline_stats(filters: KpiFilters, states) -> list[Stat]:
    counts = {row.state: row for row in kpis.open_pipeline(filters=filters)}
    return [
        Stat(counts[state].label, str(counts[state].cases), href=cases_link(filters, state=state))
        for state in states
    ]


def value_table(filters: KpiFilters) -> Table:
    rows = []
    for row in kpis.open_pipeline(filters=filters):
        for currency, value in sorted(row.value_by_currency.items()):
            rows.append(
                [
                    Cell(row.label),
                    Cell(currency),
                    Cell(row.cases, href=cases_link(filters, state=row.state)),
                    Cell(value),
                ]
            )
    return Table(
        "open-value",
        "Open returns by state and value",
        [Column("State"), Column("Currency"), Column("Cases", True), Column("Value", True)],
        rows,
        note="Quantity × unit price of the open cases' lines, per currency (never summed across).",
    )


def risk_table(filters: KpiFilters) -> Table:
    cases = kpis.risk_priority_queue(filters=filters, limit=15)
    return Table(
        "risk-queue",
        "Open returns by risk and value",
        [
            Column("RMA"),
            Column("State"),
            Column("Risk", True),
            Column("Value", True),
            Column("Signals"),
        ],
        [
            [
                Cell(case.rma_number, href=reverse("return_detail", args=[case.pk])),
                Cell(case.get_state_display()),
                Cell(case.risk_score, text=f"{case.risk_score} · {case.get_risk_level_display()}"),
                Cell(case.value, text=f"{case.value} {case.channel.currency}"),
                Cell(
                    "; ".join(signal.get("detail", "") for signal in case.risk_signals) or "None",
                ),
            ]
            for case in cases
        ],
        note="Riskiest first, then the most valuable; the signals the risk screening recorded.",
        empty="No open returns.",
    )


def _rate(part: dict) -> str:
    shipped = part.get("shipped") or 0
    return f"{part.get('returned', 0) / shipped * 100:.1f}%" if shipped else "—"


def anomaly_table(filters: KpiFilters) -> Table:
    """The SKUs the daily anomaly scan flagged and nobody has closed yet (reporting.anomaly
    opens an investigate-SKU exception for each); one query."""
    thresholds = Thresholds()
    flagged = ExceptionCase.objects.filter(
        kind=ExceptionKind.INVESTIGATE_SKU, state__in=ACTIVE_STATES
    ).order_by("-opened_at")[:20]
    rows = []
    for exception in flagged:
        evidence = exception.evidence or {}
        recent, baseline = evidence.get("recent", {}), evidence.get("baseline", {})
        rows.append(
            [
                Cell(
                    exception.subject_label, href=reverse("exception_detail", args=[exception.pk])
                ),
                Cell(_rate(recent)),
                Cell(_rate(baseline)),
                Cell(f"{recent.get('returned', 0)} / {recent.get('shipped', 0)}"),
                Cell(evidence.get("p_value"), text=f"{evidence.get('p_value', 0):.1g}"),
                Cell(evidence.get("likely_cause", "")),
                Cell(exception.opened_at.date()),
            ]
        )
    return Table(
        "anomalies",
        "Return-rate anomalies (open)",
        [
            Column("SKU"),
            Column("Recent rate", True),
            Column("Baseline", True),
            Column("Returned / shipped", True),
            Column("p-value", True),
            Column("Likely cause"),
            Column("Flagged"),
        ],
        rows,
        note=(
            f"The daily scan tests each SKU's last {thresholds.recent_days} days against its "
            f"{thresholds.baseline_days} before (binomial, p < {thresholds.alpha}, at least "
            f"{thresholds.min_recent_returned} returns of {thresholds.min_recent_shipped} "
            "shipped) and opens an investigate-SKU exception."
        ),
        empty="No SKU's return rate stands out from its own baseline.",
    )


def forecast_section(filters: KpiFilters) -> tuple[Chart, Table]:
    """The inbound forecast as the hourly snapshot job last stored it (computing it takes
    seconds on a large history, too slow for a page)."""
    forecast = forecast_read(today=timezone.now().date(), warehouse_id=filters.warehouse_id)
    made = forecast.computed_at
    chart = Chart(
        "forecast",
        "Inbound returns forecast (units)",
        [day.isoformat() for day in forecast.days] if made else [],
        [
            {"label": name, "values": [round(a + b, 2) for a, b in zip(*parts, strict=True)]}
            for name, parts in forecast.warehouses.items()
        ],
        note=f"Made {made:%d %b, %H:%M} UTC" if made else "Not made yet",
        description="Bar chart of expected inbound units per warehouse per day",
    )
    table = Table(
        "forecast-table",
        "Inbound forecast by warehouse",
        [
            Column("Warehouse"),
            Column("Known cases", True),
            Column("Not yet requested", True),
            Column("Total", True),
        ],
        [
            [
                Cell(name),
                Cell(round(sum(known), 1)),
                Cell(round(sum(fresh), 1)),
                Cell(round(sum(known) + sum(fresh), 1)),
            ]
            for name, (known, fresh) in forecast.warehouses.items()
        ]
        if made
        else [],
        note="Expected units over the next 14 days: cases in transit or authorized, plus recent "
        "shipments × the warehouse's return rate.",
        empty="The forecast is made by the hourly snapshot job; it has not run yet.",
    )
    return chart, table


OPEN_STATE_GROUPS = {
    "cs": (ReturnState.REQUESTED, ReturnState.PENDING_REVIEW, ReturnState.AUTHORIZED),
    "warehouse": (ReturnState.IN_TRANSIT, ReturnState.DELIVERED, ReturnState.RECEIVED),
    "finance": (ReturnState.RECEIVED, ReturnState.INSPECTED),
}
