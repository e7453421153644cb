"""Return reasons by channel, SKU and category."""

from dataclasses import dataclass

from django.db.models import Count, Sum

from returns.models.cases import VOID_STATES

from .cases import lines_filtered
from .filters import KpiFilters

# Dimension → (the field grouped on, the field naming it)
DIMENSIONS = {
    "channel": ("case__channel_id", "case__channel__name"),
    "sku": ("order_line__product_id", "order_line__product__sku"),
    "category": ("order_line__product__category_id", "order_line__product__category__name"),
}


@dataclass(frozen=True)
class ReasonRow:
    dimension_id: int
    dimension: str
    reason_code: str
    reason: str
    group: str
    units: int
    lines: int


def return_reasons(*, filters: KpiFilters, by: str) -> list[ReasonRow]:
    """Returned units per (channel | SKU | category) and canonical reason, one query.

    Definition: the ReturnLines of cases requested (requested_at) in [filters.since,
    filters.until), except cases rejected, cancelled or expired (they returned nothing);
    `units` = sum of line quantities, `lines` = number of lines; grouped by `by` and the line's
    canonical ReasonCode. Channel, warehouse and category filters apply (see `lines_filtered`).
    Ordered by dimension name, then units, most first.
    """
    key, name = DIMENSIONS[by]
    rows = (
        lines_filtered(filters)
        .filter(case__requested_at__gte=filters.since, case__requested_at__lt=filters.until)
        .exclude(case__state__in=VOID_STATES)
        .order_by()
        .values(key, name, "reason__code", "reason__label", "reason__group")
        .annotate(units=Sum("quantity"), lines=Count("pk"))
    )
    result = [
        ReasonRow(
            dimension_id=row[key],
            dimension=row[name],
            reason_code=row["reason__code"],
            reason=row["reason__label"],
            group=row["reason__group"],
            units=row["units"],
            lines=row["lines"],
        )
        for row in rows
    ]
    return sorted(result, key=lambda row: (row.dimension, -row.units, row.reason_code))
