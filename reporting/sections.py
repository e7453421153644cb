"""The tables and charts dashboards are made of, each built from one KPI selector."""

from collections import defaultdict
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from erp.models import Category, Channel, ExceptionCase, Product, ReasonCode
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind
from returns.models import ReturnState

from . import kpis
from .anomaly import Thresholds
from .kpis import KpiFilters
from .parts import (
    ALL_STAGES,
    INSPECTION_TO_REFUND,
    MINUTE,
    QUARANTINE_RELEASED,
    RECOVERY,
    REFUND_ACCURACY,
    REFUND_LATENCY,
    RESTOCK,
    SKU_RATES,
    accuracy_from_parts,
    hist_metric,
    hist_summary,
    reasons_metric,
    recovery_from_parts,
    stage_summaries,
    stock_filters,
    window_parts,
)
from .snapshots import (
    METRICS,
    Pipeline,
    Trend,
    forecast_read,
    pipeline_read,
    quarantine_now_read,
)
from .tables import Cell, Chart, Column, Stat, Table

GROUP_LABELS = dict(ReasonCode.Group.choices)


def cases_link(filters: KpiFilters, **extra) -> str:
    return f"{reverse('dashboard_cases')}?{urlencode({**filters.as_query(), **extra})}"


def _hours(value: float | None) -> Cell:
    return Cell(None if value is None else round(value, 1))


def cycle_time_table(filters: KpiFilters, stages=None) -> Table:
    """Median and p90 per stage from the daily snapshots' hour histograms (reporting.parts),
    today and any day not stored yet computed live."""
    metrics = [hist_metric(stage.key) for stage in ALL_STAGES if not stages or stage.key in stages]
    window = window_parts(filters=filters, metrics=metrics)
    rows = []
    for stage, summary in stage_summaries(window.parts):
        rows.append(
            [
                Cell(stage.label),
                Cell(summary.count, href=cases_link(filters, stage=stage.key)),
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
        note="Cases whose stage ended in the window"
        + (
            " (inspection to refund: refunds issued in it)"
            if hist_metric(INSPECTION_TO_REFUND.key) in metrics
            else ""
        )
        + "; to the hour, from the daily snapshots.",
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


def _reason_rows(filters: KpiFilters, by: str) -> list:
    """`kpis.return_reasons`' rows from the window's snapshot parts; two queries for names."""
    parts = window_parts(filters=filters, metrics=[reasons_metric(by)]).parts[reasons_metric(by)]
    keys = [
        tuple(int(n) if n not in ("None", "") else None for n in key.split("|")) for key in parts
    ]
    model, field = {
        "channel": (Channel, "name"),
        "sku": (Product, "sku"),
        "category": (Category, "name"),
    }[by]
    names = dict(model.objects.filter(pk__in={d for d, _ in keys}).values_list("pk", field))
    reasons = {
        pk: (code, label, group)
        for pk, code, label, group in ReasonCode.objects.filter(
            pk__in={r for _, r in keys}
        ).values_list("pk", "code", "label", "group")
    }
    rows = []
    for (dim, reason), (lines, units) in zip(keys, parts.values(), strict=True):
        code, label, group = reasons.get(reason, ("", "", ""))
        rows.append(
            kpis.reasons.ReasonRow(
                dimension_id=dim,
                dimension=names.get(dim, "—"),
                reason_code=code,
                reason=label,
                group=group,
                units=units,
                lines=lines,
            )
        )
    return sorted(rows, key=lambda row: (row.dimension, -row.units, row.reason_code))


def reasons_table(filters: KpiFilters, by: str) -> tuple[Table, Chart]:
    rows = _reason_rows(filters, by)
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


def sku_parts(filters: KpiFilters) -> dict:
    """SKU id → [shipped, returned] over the window (reporting.parts), for `sku_rates` and
    `shipped_and_returned` to share."""
    return window_parts(filters=filters, metrics=[SKU_RATES]).parts[SKU_RATES]


def sku_rates(filters: KpiFilters, limit: int = 20, parts=None) -> list:
    """`kpis.sku_return_rates` from the window's snapshot parts, highest rate first (ties: most
    returned, then the older SKU); one query for the names of the rows shown."""
    parts = sku_parts(filters) if parts is None else parts
    ranked = sorted(
        (
            (int(pk), shipped, returned)
            for pk, (shipped, returned) in parts.items()
            if returned and pk not in ("None", "")
        ),
        key=lambda row: (not row[1], -(row[2] / row[1]) if row[1] else 0, -row[2], row[0]),
    )[:limit]
    names = {
        pk: (sku, name)
        for pk, sku, name in Product.objects.filter(pk__in=[pk for pk, *_ in ranked]).values_list(
            "pk", "sku", "name"
        )
    }
    return [
        kpis.return_rate.SkuReturnRate(pk, *names.get(pk, ("?", "")), shipped, returned)
        for pk, shipped, returned in ranked
    ]


def shipped_and_returned(filters: KpiFilters, parts=None) -> tuple[int, int]:
    parts = sku_parts(filters) if parts is None else parts
    return (
        sum(shipped for shipped, _ in parts.values()),
        sum(returned for _, returned in parts.values()),
    )


def return_rate_table(filters: KpiFilters, limit: int = 20, parts=None) -> Table:
    rows = sku_rates(filters, limit=limit, parts=parts)
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


def quarantine_section(filters: KpiFilters) -> tuple[Table, Stat, Stat, Chart]:
    """Quarantine aging now (kpis.quarantine_aging) as today's snapshot counted it while young,
    restock latency and quarantine stays over the window from the daily snapshots' minute
    histograms (reporting.parts); a channel does not apply to stock."""
    stock = stock_filters(filters)
    aging = quarantine_now_read(filters=stock)
    parts = window_parts(filters=stock, metrics=[RESTOCK, QUARANTINE_RELEASED]).parts
    restock = hist_summary(parts[RESTOCK], MINUTE)
    released = hist_summary(parts[QUARANTINE_RELEASED], MINUTE)
    table = Table(
        "quarantine-aging",
        "Quarantine aging",
        [Column("Time in quarantine"), Column("Units", True)],
        [[Cell(label), Cell(units)] for label, units in aging.buckets.items()],
        note=f"{aging.on_hand} units in quarantine now, counted {aging.as_of:%H:%M} UTC.",
    )
    chart = Chart(
        "quarantine-chart",
        "Units in quarantine by time there",
        list(aging.buckets) if aging.on_hand else [],
        [{"label": "Units", "values": list(aging.buckets.values())}],
        note=f"Now, counted {aging.as_of:%H:%M} UTC",
        description="Bar chart of the units in quarantine now, by how long they have been there",
        empty="No units in quarantine.",
    )
    restock_stat = Stat(
        "Restock latency, median",
        "—" if restock.median is None else f"{restock.median_hours:.1f} h",
        hint=f"p90 {restock.p90_hours:.1f} h · {restock.count} units"
        if restock.count
        else "No units restocked",
    )
    release_stat = Stat(
        "Quarantine stay, released",
        "—" if released.median is None else f"{released.median_hours:.1f} h",
        hint=f"median of {released.count} units" if released.count else "None released",
    )
    return table, restock_stat, release_stat, chart


def pipeline_stats(filters: KpiFilters, states, pipeline: Pipeline | None = None) -> list[Stat]:
    """`pipeline`: the dashboard's pipeline_read when it read it already."""
    pipeline = pipeline_read(filters=filters) if pipeline is None else pipeline
    counts = {row.state: row for row in pipeline.rows}
    as_of = f"Open now, counted {pipeline.as_of:%H:%M} UTC"
    return [
        Stat(
            counts[state].label,
            f"{counts[state].cases:,}",
            href=cases_link(filters, state=state),
            hint=as_of,
        )
        for state in states
    ]


def value_table(filters: KpiFilters, pipeline: Pipeline | None = None) -> Table:
    rows = []
    pipeline = pipeline_read(filters=filters) if pipeline is None else pipeline
    for row in pipeline.rows:
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
        note="Quantity × unit price of the open cases' lines, per currency (never summed "
        f"across); counted {pipeline.as_of:%d %b, %H:%M} UTC.",
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
            Column("Expected new", True),
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
        note="Expected units over the next 14 days: known cases (in transit or authorized), "
        "and expected new returns (recent shipments × the warehouse's return rate).",
        empty="The forecast is made by the hourly snapshot job; it has not run yet.",
    )
    return chart, table


OPEN_STATE_GROUPS = {
    "cs": (ReturnState.REQUESTED, ReturnState.PENDING_REVIEW, ReturnState.AUTHORIZED),
    "warehouse": (ReturnState.IN_TRANSIT, ReturnState.DELIVERED, ReturnState.RECEIVED),
    "finance": (ReturnState.RECEIVED, ReturnState.INSPECTED),
}


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


FINANCE_PARTS = [REFUND_LATENCY, REFUND_ACCURACY, RECOVERY]


def finance_parts(filters: KpiFilters) -> dict:
    """The window's parts `refund_stats` and `recovery_section` read, in one pass."""
    return window_parts(filters=filters, metrics=FINANCE_PARTS).parts


def refund_stats(filters: KpiFilters, parts=None) -> list[Stat]:
    """Refund latency and accuracy over the window (kpis.refunds), from the daily snapshots'
    parts (reporting.parts): latency to the hour, today's refunds computed live."""
    parts = finance_parts(filters) if parts is None else parts
    latency = hist_summary(parts[REFUND_LATENCY])
    accuracy = accuracy_from_parts(parts[REFUND_ACCURACY])
    return [
        Stat(
            "Refund latency, median",
            "—" if latency.median is None else f"{latency.median_hours:.1f} h",
            hint=f"p90 {latency.p90_hours:.1f} h · {latency.count} refunds issued"
            if latency.count
            else "No refund issued",
        ),
        Stat(
            "Refund accuracy",
            _pct(accuracy.rate),
            tone="danger" if accuracy.rate is not None and accuracy.rate < 0.95 else "",
            hint=f"{accuracy.accurate} of {accuracy.checked} checked · "
            f"{accuracy.unverified} not inspected yet",
        ),
        Stat(
            "Refunds off the inspection",
            f"{accuracy.mismatched + accuracy.reversed}",
            hint=f"{accuracy.mismatched} wrong deduction · {accuracy.reversed} reversed · "
            f"net {accuracy.over_refunded - accuracy.under_refunded} over-refunded",
        ),
    ]


def recovery_section(filters: KpiFilters, parts=None) -> tuple[Table, Chart]:
    """Recovery by disposition (kpis.recovery) from the daily snapshots' parts."""
    parts = finance_parts(filters) if parts is None else parts
    rows = recovery_from_parts(parts[RECOVERY])
    table = Table(
        "recovery",
        "Recovery by disposition",
        [
            Column("Disposition"),
            Column("Currency"),
            Column("Units", True),
            Column("Returned value", True),
            Column("Expected recovery", True),
            Column("Expected rate", True),
            Column("Realized", True),
            Column("Realized rate", True),
        ],
        [
            [
                Cell(row.label),
                Cell(row.currency or "—"),
                Cell(row.units),
                Cell(row.returned_value),
                Cell(row.expected),
                Cell(row.expected_rate, text=_pct(row.expected_rate)),
                Cell(row.realized),
                Cell(row.realized_rate, text=_pct(row.realized_rate)),
            ]
            for row in rows
        ],
        note="Units whose current disposition was decided in the window. Expected: what the "
        "warehouse recorded with its basis; realized: vendor credits and liquidation sales "
        "finance recorded. Rates are of the units' returned value.",
    )
    currencies = sorted({row.currency for row in rows})
    main = currencies[0] if len(currencies) == 1 else None
    shown = [row for row in rows if main is None or row.currency == main]
    chart = Chart(
        "recovery-chart",
        "Recovery rate by disposition" + (f" ({main})" if main else ""),
        [f"{row.label} {row.currency}" if not main else row.label for row in shown],
        [
            {
                "label": "Expected (%)",
                "values": [round((row.expected_rate or 0) * 100, 1) for row in shown],
            },
            {
                "label": "Realized (%)",
                "values": [round((row.realized_rate or 0) * 100, 1) for row in shown],
            },
        ],
        description="Bar chart of expected and realized recovery as a share of returned value, "
        "per disposition",
    )
    return table, chart


def reconciliation_section(filters: KpiFilters) -> tuple[Table, Chart]:
    rows = kpis.reconciliation.reconciliation_variance(filters=filters)
    table = Table(
        "reconciliation-variance",
        "Reconciliation variance",
        [
            Column("Source · figure"),
            Column("Keys off", True),
            Column("Over tolerance", True),
            Column("Units off", True),
            Column("Explained", True),
            Column("Unexplained", True),
            Column("Value off", True),
            Column("Unexplained value", True),
        ],
        [
            [
                Cell(row.label),
                Cell(row.keys),
                Cell(row.over_tolerance),
                Cell(row.variance_units),
                Cell(row.explained_units),
                Cell(row.unexplained_units),
                Cell(row.variance_value),
                Cell(row.unexplained_value),
            ]
            for row in rows
        ],
        note="As of the last reconciliation run: Σ |external - ours| per SKU and place, the part "
        "in-flight events explain and the rest; value at unit cost.",
        empty="Every compared figure matches.",
    )
    trend = kpis.reconciliation.reconciliation_variance_trend(filters=filters)
    chart = Chart(
        "reconciliation-trend",
        "Unexplained variance by source (units)",
        [day.isoformat() for day in trend.days],
        [
            {"label": kpis.reconciliation.SOURCE_LABELS.get(source, source), "values": unexplained}
            for source, (_, unexplained) in sorted(trend.sources.items())
        ],
        kind="line",
        note="At each day's last reconciliation run",
        description="Line chart of unexplained variance units per source per day",
    )
    return table, chart
