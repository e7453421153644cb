"""The dashboards: one per role and an executive overview, each a list of blocks built from
`sections`. A block is a row of headline figures, a chart, a table, or a pair of them side by
side."""

from collections.abc import Callable
from dataclasses import dataclass

from . import sections as s
from .kpis import KpiFilters
from .snapshots import kpi_trend
from .tables import Stat

ALL = "reporting.view_all_dashboards"


@dataclass(frozen=True)
class Block:
    kind: str  # stats | chart | table | pair
    content: object


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    lede: str
    permissions: tuple[str, ...]  # any one opens it
    build: Callable[[KpiFilters], tuple[list[Block], object]]

    @property
    def url_name(self) -> str:
        return f"dashboard_{self.slug}"


def _pair(left, right) -> Block:
    return Block("pair", [_block(left), _block(right)])


def _block(item) -> Block:
    if isinstance(item, Block):
        return item
    kind = type(item).__name__.lower()
    return Block(kind, item)


def _cs(filters: KpiFilters):
    trend = kpi_trend(filters=filters, metrics=["cases_requested"])
    reasons, reasons_chart = s.reasons_table(filters, by="channel")
    stats = s.pipeline_stats(filters, s.OPEN_STATE_GROUPS["cs"])
    blocks = [
        Block("stats", stats),
        _pair(
            s.trend_chart(trend, ["cases_requested"], "Cases requested", "cs-trend", kind="bar"),
            s.cycle_time_table(filters, stages={"authorization", "total"}),
        ),
        Block("table", s.risk_table(filters)),
        _pair(reasons_chart, reasons),
    ]
    return blocks, trend


def _warehouse(filters: KpiFilters):
    trend = kpi_trend(filters=filters, metrics=["units_received"])
    forecast_chart, forecast_table = s.forecast_section(filters)
    quarantine, restock, released, quarantine_chart = s.quarantine_section(filters)
    blocks = [
        Block(
            "stats",
            [*s.pipeline_stats(filters, s.OPEN_STATE_GROUPS["warehouse"]), restock, released],
        ),
        _pair(forecast_chart, forecast_table),
        _pair(
            s.trend_chart(trend, ["units_received"], "Units received", "wh-trend", kind="bar"),
            s.cycle_time_table(
                filters, stages={"transit", "dock_to_receipt", "receipt_to_inspection"}
            ),
        ),
        _pair(quarantine_chart, quarantine),
    ]
    return blocks, trend


def _finance(filters: KpiFilters):
    trend = kpi_trend(
        filters=filters,
        metrics=[
            "units_requested",
            "units_shipped",
            "refund_latency_median_hours",
            "refund_accuracy",
        ],
    )
    parts = s.finance_parts(filters)
    recovery, recovery_chart = s.recovery_section(filters, parts)
    pipeline = s.pipeline_read(filters=filters)
    accuracy = s.trend_chart(trend, ["refund_accuracy"], "Refund accuracy", "fin-accuracy")
    accuracy.datasets[0]["values"] = [
        None if v is None else round(v * 100, 1) for v in accuracy.datasets[0]["values"]
    ]
    accuracy.datasets[0]["label"] = "Refund accuracy (%)"
    blocks = [
        Block("stats", s.pipeline_stats(filters, s.OPEN_STATE_GROUPS["finance"], pipeline)),
        Block("stats", s.refund_stats(filters, parts)),
        _pair(
            s.trend_chart(
                trend,
                ["refund_latency_median_hours"],
                "Refund latency, median",
                "fin-latency",
            ),
            accuracy,
        ),
        _pair(
            s.cycle_time_table(filters, stages={"inspection_to_refund", "total"}),
            recovery_chart,
        ),
        Block("table", recovery),
        _pair(
            s.trend_chart(
                trend,
                ["units_shipped", "units_requested"],
                "Units shipped and returned",
                "fin-trend",
            ),
            s.value_table(filters, pipeline),
        ),
        Block("table", s.return_rate_table(filters)),
    ]
    return blocks, trend


def _operations(filters: KpiFilters):
    trend = kpi_trend(filters=filters, metrics=["exceptions_opened"])
    exceptions, exceptions_chart = s.exceptions_table(filters)
    forecast_chart, forecast_table = s.forecast_section(filters)
    _, restock, released, quarantine_chart = s.quarantine_section(filters)
    reconciliation, reconciliation_chart = s.reconciliation_section(filters)
    blocks = [
        _pair(
            exceptions_chart,
            s.trend_chart(
                trend, ["exceptions_opened"], "Exceptions opened", "ops-trend", kind="bar"
            ),
        ),
        Block("table", exceptions),
        Block("table", s.anomaly_table(filters)),
        # The aging table is exported from the warehouse dashboard; here it reads as a chart.
        _pair(s.cycle_time_table(filters), quarantine_chart),
        Block("stats", [restock, released]),
        _pair(forecast_chart, forecast_table),
        Block("table", reconciliation),
        Block("chart", reconciliation_chart),
    ]
    return blocks, trend


def _executive(filters: KpiFilters):
    metrics = [
        "return_rate",
        "cycle_total_median_hours",
        "cycle_total_p90_hours",
        "cases_requested",
    ]
    trend = kpi_trend(filters=filters, metrics=metrics)
    cycle = s.cycle_time_table(filters, stages={"total"})
    total = cycle.rows[0] if cycle.rows else None
    skus = s.sku_parts(filters)
    shipped, returned = s.shipped_and_returned(filters, skus)
    exceptions = s.kpis.exception_volume_by_kind(filters=filters)
    reasons, reasons_chart = s.reasons_table(filters, by="category")
    stats = [
        Stat("Units shipped", f"{shipped:,}"),
        Stat("Units returned", f"{returned:,}", href=s.cases_link(filters)),
        Stat("Return rate", f"{returned / shipped * 100:.1f}%" if shipped else "—"),
        Stat(
            "Cycle time, median", f"{total[2]} h" if total and total[2].value is not None else "—"
        ),
        Stat("Cycle time, p90", f"{total[3]} h" if total and total[3].value is not None else "—"),
        Stat(
            "Exceptions overdue",
            str(sum(row.overdue for row in exceptions)),
            tone="danger" if any(row.overdue for row in exceptions) else "",
        ),
    ]
    rate = s.trend_chart(trend, ["return_rate"], "Return rate", "exec-rate")
    rate.datasets[0]["values"] = [
        None if v is None else round(v * 100, 2) for v in rate.datasets[0]["values"]
    ]
    rate.datasets[0]["label"] = "Return rate (%)"
    blocks = [
        Block("stats", stats),
        _pair(
            s.trend_chart(trend, ["cases_requested"], "Cases requested", "exec-cases", kind="bar"),
            rate,
        ),
        _pair(
            s.trend_chart(
                trend,
                ["cycle_total_median_hours", "cycle_total_p90_hours"],
                "Cycle time",
                "exec-cycle",
            ),
            reasons_chart,
        ),
        Block("table", s.return_rate_table(filters, limit=10, parts=skus)),
        Block("table", reasons),
    ]
    return blocks, trend


DASHBOARDS = {
    dashboard.slug: dashboard
    for dashboard in (
        Dashboard(
            "cs",
            "Customer service dashboard",
            "Returns waiting on customer service, authorization time, and why customers return.",
            ("erp.access_customer_service", ALL),
            _cs,
        ),
        Dashboard(
            "warehouse",
            "Warehouse dashboard",
            "What is coming in, how fast it is received, inspected and restocked; quarantine.",
            ("erp.access_warehouse", ALL),
            _warehouse,
        ),
        Dashboard(
            "finance",
            "Finance dashboard",
            "Refund speed and accuracy, what dispositions recover, the value of open returns, "
            "and which SKUs come back most.",
            ("erp.access_finance", ALL),
            _finance,
        ),
        Dashboard(
            "operations",
            "Operations dashboard",
            "Exceptions and their age, SKUs returning more than usual, cycle times, inbound, "
            "stock reconciliation.",
            ("erp.access_operations", ALL),
            _operations,
        ),
        Dashboard(
            "executive",
            "Executive overview",
            "Return volume, rate and cycle time at a glance, with the trend behind each.",
            (ALL,),
            _executive,
        ),
    )
}


def dashboards_for(user) -> list[Dashboard]:
    return [d for d in DASHBOARDS.values() if any(user.has_perm(p) for p in d.permissions)]
