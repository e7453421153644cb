"""Return rate per SKU: units returned over units shipped in the same window."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum

from erp.models import OrderLine, Product
from returns.models.cases import VOID_STATES

from .cases import lines_filtered
from .filters import KpiFilters


@dataclass(frozen=True)
class SkuReturnRate:
    product_id: int
    sku: str
    name: str
    shipped: int
    returned: int

    @property
    def rate(self) -> Decimal | None:
        if not self.shipped:
            return None
        return (Decimal(self.returned) / Decimal(self.shipped)).quantize(Decimal("0.0001"))


def shipped_units(*, filters: KpiFilters) -> dict[int, int]:
    """Units shipped per product id: order lines of orders with shipped_at in the window."""
    lines = OrderLine.objects.filter(
        order__shipped_at__gte=filters.since, order__shipped_at__lt=filters.until
    )
    if filters.channel_id:
        lines = lines.filter(order__channel_id=filters.channel_id)
    if filters.warehouse_id:
        lines = lines.filter(order__ship_from_id=filters.warehouse_id)
    if filters.category_id:
        lines = lines.filter(product__category_id=filters.category_id)
    rows = lines.order_by().values("product_id").annotate(n=Sum("quantity"))
    return {row["product_id"]: row["n"] for row in rows}


def returned_units(*, filters: KpiFilters) -> dict[int, int]:
    """Units returned per product id: lines of cases requested in the window, not void."""
    rows = (
        lines_filtered(filters)
        .filter(case__requested_at__gte=filters.since, case__requested_at__lt=filters.until)
        .exclude(case__state__in=VOID_STATES)
        .order_by()
        .values("order_line__product_id")
        .annotate(n=Sum("quantity"))
    )
    return {row["order_line__product_id"]: row["n"] for row in rows}


def sku_return_rates(*, filters: KpiFilters, limit: int = 50) -> list[SkuReturnRate]:
    """Return rate per SKU over the window, highest first; three queries.

    Definition: rate = returned / shipped, where shipped = units on order lines whose order
    shipped (SalesOrder.shipped_at) in [filters.since, filters.until), and returned = units on
    return lines of cases requested in the same window and not rejected, cancelled or expired.
    Both counts are of the same calendar window (a period ratio, not a cohort: a unit shipped
    in the window may be returned after it). Channel = the order's / case's channel; warehouse
    = the order's ship-from (the case's expected warehouse for returns); category = the SKU's.
    A SKU with returns and no shipments in the window has no rate and sorts last.
    """
    shipped = shipped_units(filters=filters)
    returned = returned_units(filters=filters)
    ids = set(shipped) | set(returned)
    products = Product.objects.filter(Q(pk__in=ids)).values_list("pk", "sku", "name")
    rates = [
        SkuReturnRate(pk, sku, name, shipped.get(pk, 0), returned.get(pk, 0))
        for pk, sku, name in products
        if returned.get(pk, 0)
    ]
    rates.sort(key=lambda row: (row.rate is None, -(row.rate or 0), -row.returned, row.sku))
    return rates[:limit]
