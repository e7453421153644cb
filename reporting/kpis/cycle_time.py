"""Return cycle time: requested → closed, and each stage on the way."""

from dataclasses import dataclass

from django.db.models import Q

from .cases import cases_filtered
from .filters import KpiFilters
from .stats import DurationSummary, duration_summaries


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    start: str
    end: str


# In the order a case lives them. "Transit" is the carrier's leg: shipped → delivered to the
# warehouse; "dock to receipt" the warehouse's: delivered → received against the RMA.
STAGES = (
    Stage("total", "Requested → closed", "requested_at", "closed_at"),
    Stage("authorization", "Authorization", "requested_at", "authorized_at"),
    Stage("transit", "Transit", "shipped_at", "delivered_at"),
    Stage("dock_to_receipt", "Dock to receipt", "delivered_at", "received_at"),
    Stage("receipt_to_inspection", "Receipt to inspection", "received_at", "inspected_at"),
)
STAGE_BY_KEY = {stage.key: stage for stage in STAGES}


@dataclass(frozen=True)
class StageTime:
    stage: Stage
    summary: DurationSummary


def return_cycle_times(*, filters: KpiFilters) -> list[StageTime]:
    """Median and p90 duration of each stage of a return, one query on PostgreSQL.

    Definition: for a stage from timestamp A to timestamp B on ReturnCase, the durations
    `B - A` of every case matching the channel / warehouse / category filters (see
    `cases_filtered`) that has both timestamps and whose B falls in the window
    [filters.since, filters.until). Median and p90 are PostgreSQL's percentile_cont (linear
    interpolation). Stages (A → B): total requested_at → closed_at; authorization requested_at
    → authorized_at; transit shipped_at → delivered_at; dock to receipt delivered_at →
    received_at; receipt to inspection received_at → inspected_at. A case skipping a stage
    (received without a delivery scan) is not counted in that stage.
    """
    spans = {
        stage.key: (
            stage.start,
            stage.end,
            Q(**{f"{stage.end}__gte": filters.since, f"{stage.end}__lt": filters.until}),
        )
        for stage in STAGES
    }
    summaries = duration_summaries(cases_filtered(filters), spans)
    return [StageTime(stage=stage, summary=summaries[stage.key]) for stage in STAGES]
