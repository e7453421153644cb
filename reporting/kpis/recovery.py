"""Recovery value and rate by disposition: what the returned units are expected to bring back,
and what came back, per outcome."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from finance.models import RealizedRecovery
from warehouse.models import Disposition, Outcome

from .filters import KpiFilters

ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))
OUTCOME_LABELS = dict(Outcome.choices)


@dataclass(frozen=True)
class RecoveryRow:
    outcome: str
    currency: str
    units: int
    returned_value: Decimal
    expected: Decimal
    realized: Decimal

    @property
    def label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

    @property
    def expected_rate(self) -> float | None:
        return float(self.expected / self.returned_value) if self.returned_value else None

    @property
    def realized_rate(self) -> float | None:
        return float(self.realized / self.returned_value) if self.returned_value else None


def current_dispositions(filters: KpiFilters) -> QuerySet[Disposition]:
    """Each unit's current disposition (its latest: a unit on hold or released from quarantine
    gets another), decided in the window, for units matching the filters: channel = the unit's
    case's channel, warehouse = the warehouse that received it, category = its product's."""
    later = Disposition.objects.filter(unit=OuterRef("unit")).filter(
        Q(decided_at__gt=OuterRef("decided_at"))
        | Q(decided_at=OuterRef("decided_at"), pk__gt=OuterRef("pk"))
    )
    dispositions = Disposition.objects.filter(
        decided_at__gte=filters.since, decided_at__lt=filters.until
    ).filter(~Exists(later))
    if filters.channel_id:
        dispositions = dispositions.filter(unit__case__channel_id=filters.channel_id)
    if filters.warehouse_id:
        dispositions = dispositions.filter(unit__receipt__warehouse_id=filters.warehouse_id)
    if filters.category_id:
        dispositions = dispositions.filter(unit__product__category_id=filters.category_id)
    return dispositions


def recovery_by_disposition(*, filters: KpiFilters) -> list[RecoveryRow]:
    """Recovery value and rate per disposition outcome and currency (never summed across
    currencies), over the units whose current disposition was decided in the window (see
    `current_dispositions`):
    - units: how many;
    - returned value: Σ the unit price of the return line each unit came back on (a unit no
      line expects counts 0);
    - expected recovery: Σ the disposition's expected_recovery (what warehouse recorded with
      its basis: resale at list price or cost, vendor credit, liquidation price; empty = 0);
    - realized recovery: Σ finance's RealizedRecovery amounts (vendor credits, liquidation
      sales) recorded against those dispositions, whenever recorded;
    - expected rate = expected ÷ returned value; realized rate = realized ÷ returned value.
    Rows ordered by outcome as warehouse lists them. Two queries.
    """
    dispositions = current_dispositions(filters)
    rows = (
        dispositions.values("outcome", "currency")
        .annotate(
            units=Count("pk"),
            returned_value=Coalesce(Sum("unit__return_line__unit_price"), ZERO),
            expected=Coalesce(Sum("expected_recovery"), ZERO),
        )
        .order_by()
    )
    realized = {
        (outcome, currency): amount
        for outcome, currency, amount in RealizedRecovery.objects.filter(
            disposition__in=dispositions.values("pk")
        )
        .values_list("disposition__outcome", "disposition__currency")
        .annotate(amount=Sum("amount"))
        .order_by()
    }
    order = {outcome: n for n, outcome in enumerate(OUTCOME_LABELS)}
    return sorted(
        (
            RecoveryRow(
                outcome=row["outcome"],
                currency=row["currency"],
                units=row["units"],
                returned_value=row["returned_value"],
                expected=row["expected"],
                realized=realized.get((row["outcome"], row["currency"]), Decimal("0.00")),
            )
            for row in rows
        ),
        key=lambda row: (order.get(row.outcome, 99), row.currency),
    )
