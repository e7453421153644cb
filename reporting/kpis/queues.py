"""Open returns ordered by risk and value, and the pipeline of cases by state."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from returns.models import ReturnCase, ReturnLine, ReturnState

from .cases import cases_filtered
from .filters import KpiFilters

# States in which a case still waits for someone (not closed, rejected, cancelled, expired).
OPEN_STATES = (
    ReturnState.REQUESTED,
    ReturnState.PENDING_REVIEW,
    ReturnState.AUTHORIZED,
    ReturnState.IN_TRANSIT,
    ReturnState.DELIVERED,
    ReturnState.RECEIVED,
    ReturnState.INSPECTED,
)

MONEY = DecimalField(max_digits=14, decimal_places=2)


def case_value() -> Subquery:
    value = (
        ReturnLine.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(total=Sum(ExpressionWrapper(F("quantity") * F("unit_price"), output_field=MONEY)))
        .values("total")
    )
    return Coalesce(Subquery(value, output_field=MONEY), Decimal("0"), output_field=MONEY)


def risk_priority_queue(*, filters: KpiFilters, limit: int = 25) -> QuerySet[ReturnCase]:
    """Open cases, riskiest first, then the most valuable, then the longest waiting; one query.

    Definition: cases in an open state (requested … inspected) matching the dimension filters,
    whatever their request date (an old open case matters most); `value` = Σ quantity x
    unit_price of its lines, in the channel's currency. The case's `risk_signals` (set by the
    returns risk screening when it opened) say why its score is what it is.

    Only cases scoring at least the `limit`-th highest open score can make the list, so the
    value (a sum over lines) is computed for those alone: the threshold is read from the
    open-cases risk index (returns 0007) in a subquery, instead of valuing every open case to
    sort them.
    """
    open_cases = cases_filtered(filters).filter(state__in=OPEN_STATES)
    threshold = open_cases.order_by("-risk_score").values("risk_score")[limit - 1 : limit]
    return (
        open_cases.filter(risk_score__gte=Coalesce(Subquery(threshold), 0))
        .select_related("channel", "customer")
        .annotate(value=case_value())
        .order_by("-risk_score", "-value", "requested_at", "pk")[:limit]
    )


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    cases: int
    value_by_currency: dict[str, Decimal]


def open_pipeline(*, filters: KpiFilters) -> list[StateCount]:
    """Open cases per state, with their value per currency; one query.

    Definition: cases in an open state matching the dimension filters, counted by state; value
    = Σ quantity x unit_price of their lines, summed per channel currency (never across).
    """
    rows = (
        cases_filtered(filters)
        .filter(state__in=OPEN_STATES)
        .order_by()
        .values("state", "channel__currency")
        .annotate(
            cases=Count("pk", distinct=True),
            value=Sum(
                ExpressionWrapper(F("lines__quantity") * F("lines__unit_price"), output_field=MONEY)
            ),
        )
    )
    by_state: dict[str, dict] = {state: {"cases": 0, "value": {}} for state in OPEN_STATES}
    for row in rows:
        entry = by_state[row["state"]]
        entry["cases"] += row["cases"]
        entry["value"][row["channel__currency"]] = row["value"] or Decimal("0")
    labels = dict(ReturnState.choices)
    return [
        StateCount(state, labels[state], entry["cases"], entry["value"])
        for state, entry in by_state.items()
    ]
