"""The return cases a dashboard's channel, warehouse and category filters select."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from returns.models import ReturnCase, ReturnLine

from .filters import KpiFilters


def case_warehouse_q(warehouse_id: int) -> Q:
    """A case belongs to the warehouse it is expected at, or else the one its order left from."""
    return Q(expected_warehouse_id=warehouse_id) | Q(
        expected_warehouse__isnull=True, order__ship_from_id=warehouse_id
    )


def cases_filtered(filters: KpiFilters) -> QuerySet[ReturnCase]:
    """Every case matching the dimension filters (not the dates: each KPI picks its moment).

    Category: the case has at least one line of a product in that category.
    """
    cases = ReturnCase.objects.all()
    if filters.channel_id:
        cases = cases.filter(channel_id=filters.channel_id)
    if filters.warehouse_id:
        cases = cases.filter(case_warehouse_q(filters.warehouse_id))
    if filters.category_id:
        in_category = ReturnLine.objects.filter(
            case=OuterRef("pk"), order_line__product__category_id=filters.category_id
        )
        cases = cases.filter(Exists(in_category))
    return cases


def lines_filtered(filters: KpiFilters) -> QuerySet[ReturnLine]:
    """Return lines matching the dimension filters; category is the line's own product's."""
    lines = ReturnLine.objects.all()
    if filters.channel_id:
        lines = lines.filter(case__channel_id=filters.channel_id)
    if filters.warehouse_id:
        lines = lines.filter(
            Q(case__expected_warehouse_id=filters.warehouse_id)
            | Q(
                case__expected_warehouse__isnull=True,
                case__order__ship_from_id=filters.warehouse_id,
            )
        )
    if filters.category_id:
        lines = lines.filter(order_line__product__category_id=filters.category_id)
    return lines
