"""What a warehouse expects to receive: the inbound queue of return cases per warehouse, most
urgent first, and a case as the receiving bench shows it.

It reads `ReturnCase`, so it lives in `returns`: the warehouse's domain code may not import
returns (DESIGN.md), but its screens may call this selector.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Now

from erp.models import BundleComponent, ShippedItem, Warehouse

from .models import ReturnCase, ReturnLine, ReturnState
from .models.cases import RiskLevel

# The states in which a parcel is on its way to (or waiting on) a warehouse's dock.
INBOUND_STATES = (ReturnState.AUTHORIZED, ReturnState.IN_TRANSIT, ReturnState.DELIVERED)
# A case worth at least this much (the lines' value at the order's prices) is received first.
HIGH_VALUE = Decimal("500.00")
# Carriers give no ETA for return labels here; a parcel usually takes this long once shipped,
# and an authorized customer usually ships within the first half of the window.
TRANSIT_DAYS = 5
QUEUE_LIMIT = 100


@dataclass(frozen=True)
class InboundSummary:
    warehouse: Warehouse
    expected: int
    on_dock: int
    urgent: int


def _eta() -> Case:
    """When the parcel is due at the dock: delivered parcels are there already."""
    transit = timedelta(days=TRANSIT_DAYS)
    return Case(
        When(state=ReturnState.DELIVERED, then=F("delivered_at")),
        When(
            state=ReturnState.IN_TRANSIT,
            then=ExpressionWrapper(F("shipped_at") + transit, output_field=DateTimeField()),
        ),
        default=ExpressionWrapper(
            Coalesce(F("ship_by"), F("authorized_at") + transit) + transit,
            output_field=DateTimeField(),
        ),
        output_field=DateTimeField(),
    )


def _inbound_rows() -> QuerySet[ReturnCase]:
    """Cases on their way, each annotated with `units`, `value`, `eta`, `high_value`,
    `overdue` and `high_risk` (flags as 0/1, so the database can order by them)."""
    lines = ReturnLine.objects.filter(case=OuterRef("pk")).order_by().values("case")
    units = lines.annotate(total=Sum("quantity")).values("total")
    value = lines.annotate(total=Sum(F("quantity") * F("unit_price"))).values("total")
    high_value_item = ReturnLine.objects.filter(
        case=OuterRef("pk"), order_line__product__is_high_value=True
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    return (
        ReturnCase.objects.filter(state__in=INBOUND_STATES)
        .select_related("channel", "customer", "order", "expected_warehouse")
        .annotate(
            units=Subquery(units, output_field=IntegerField()),
            value=Coalesce(
                Subquery(value, output_field=money), Value(Decimal("0")), output_field=money
            ),
            eta=_eta(),
        )
        .annotate(
            high_value=Case(
                When(Q(value__gte=HIGH_VALUE) | Exists(high_value_item), then=1),
                default=0,
                output_field=IntegerField(),
            ),
            overdue=Case(When(eta__lt=Now(), then=1), default=0, output_field=IntegerField()),
            high_risk=Case(
                When(risk_level=RiskLevel.HIGH, then=1), default=0, output_field=IntegerField()
            ),
        )
    )


def _lines_prefetch() -> Prefetch:
    return Prefetch(
        "lines",
        queryset=ReturnLine.objects.select_related("order_line__product", "reason"),
    )


def inbound_queue(*, warehouse_id: int, limit: int = QUEUE_LIMIT) -> list[ReturnCase]:
    """The warehouse's expected returns, most urgent first: high-value, then overdue, then
    high risk, then the earliest due. Two queries however many cases and lines."""
    rows = (
        _inbound_rows()
        .filter(expected_warehouse_id=warehouse_id)
        .prefetch_related(_lines_prefetch())
        .order_by("-high_value", "-overdue", "-high_risk", "-risk_score", "eta", "pk")
    )
    return list(rows[:limit])


def inbound_summaries() -> list[InboundSummary]:
    """Per active warehouse: returns expected, already on the dock, and urgent. Two queries."""
    counts = {
        row["expected_warehouse_id"]: row
        for row in _inbound_rows()
        .filter(expected_warehouse__isnull=False)
        .order_by()
        .values("expected_warehouse_id")
        .annotate(
            expected=Count("pk"),
            on_dock=Count("pk", filter=Q(state=ReturnState.DELIVERED)),
            urgent=Count("pk", filter=Q(high_value=1) | Q(overdue=1) | Q(high_risk=1)),
        )
    }
    summaries = []
    for warehouse in Warehouse.objects.filter(is_active=True).order_by("name"):
        row = counts.get(warehouse.pk, {})
        summaries.append(
            InboundSummary(
                warehouse=warehouse,
                expected=row.get("expected", 0),
                on_dock=row.get("on_dock", 0),
                urgent=row.get("urgent", 0),
            )
        )
    return summaries


def inbound_case_get(*, pk: int) -> ReturnCase:
    """A case as the receiving bench shows it: its lines with product, the serials and lots
    shipped on each (what may come back) and any bundle's components. Four queries."""
    lines = ReturnLine.objects.select_related(
        "order_line__product__category", "reason"
    ).prefetch_related(
        Prefetch("order_line__shipped_items", queryset=ShippedItem.objects.order_by("pk")),
        Prefetch(
            "order_line__product__components",
            queryset=BundleComponent.objects.select_related("component").order_by("pk"),
        ),
    )
    return (
        ReturnCase.objects.select_related("channel", "customer", "order", "expected_warehouse")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .get(pk=pk)
    )
