"""The cases behind a dashboard number: each drill-down matches the definition of its KPI."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Subquery, Sum

from returns.models import ReturnCase, ReturnLine
from returns.models.cases import VOID_STATES

from .cases import cases_filtered, lines_filtered
from .cycle_time import STAGE_BY_KEY
from .filters import KpiFilters
from .queues import OPEN_STATES, case_value
from .refunds import refunds_issued

LIMIT = 200
INSPECTION_TO_REFUND = "inspection_to_refund"


@dataclass(frozen=True)
class Drill:
    """What a number was: a cycle-time stage, a reason (per SKU), a SKU, or an open state.
    With none of them, the cases requested in the window."""

    stage: str = ""
    reason: str = ""
    sku_id: int | None = None
    state: str = ""

    def describe(self) -> str:
        if self.stage == INSPECTION_TO_REFUND:
            return "Inspection to refund: cases with a refund issued in the window after inspection"
        if self.stage in STAGE_BY_KEY:
            return f"{STAGE_BY_KEY[self.stage].label}: cases whose stage ended in the window"
        if self.state:
            return "Open cases in this state, whenever requested"
        parts = ["Cases requested in the window"]
        if self.reason:
            parts.append(f"with reason {self.reason}")
        if self.sku_id:
            parts.append("for this SKU")
        return ", ".join(parts) + " (not rejected, cancelled or expired)"


def drilldown_cases(*, filters: KpiFilters, drill: Drill) -> QuerySet[ReturnCase]:
    """At most 200 cases behind a number, newest request first; one query."""
    if drill.stage == INSPECTION_TO_REFUND:
        refunded = refunds_issued(filters).filter(
            case=OuterRef("pk"), issued_at__gte=OuterRef("inspected_at")
        )
        cases = cases_filtered(filters).filter(Exists(refunded))
    elif drill.stage in STAGE_BY_KEY:
        stage = STAGE_BY_KEY[drill.stage]
        cases = cases_filtered(filters).filter(
            **{
                f"{stage.start}__isnull": False,
                f"{stage.end}__gte": filters.since,
                f"{stage.end}__lt": filters.until,
            }
        )
    elif drill.state in OPEN_STATES:
        cases = cases_filtered(filters).filter(state=drill.state)
    else:
        lines = lines_filtered(filters).filter(case=OuterRef("pk"))
        if drill.reason:
            lines = lines.filter(reason__code=drill.reason)
        if drill.sku_id:
            lines = lines.filter(order_line__product_id=drill.sku_id)
        cases = (
            ReturnCase.objects.filter(Exists(lines))
            .filter(requested_at__gte=filters.since, requested_at__lt=filters.until)
            .exclude(state__in=VOID_STATES)
        )
    return (
        cases.select_related("channel", "customer")
        .annotate(value=case_value(), units=_units())
        .order_by("-requested_at", "-pk")[:LIMIT]
    )


def _units():
    units = (
        ReturnLine.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Subquery(units)
