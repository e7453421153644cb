"""Reads of master data for screens and APIs. Each owns its joins, so screens stay O(1)."""

from datetime import timedelta

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from erp.models import (
    Channel,
    Customer,
    Location,
    OrderLine,
    Product,
    ReasonCode,
    SalesOrder,
    Warehouse,
    WorkerHeartbeat,
)

LINE_VALUE = ExpressionWrapper(
    F("lines__quantity") * F("lines__unit_price"),
    output_field=DecimalField(max_digits=14, decimal_places=2),
)


def order_list(*, query: str = "", channel_code: str = "") -> QuerySet[SalesOrder]:
    """Orders matching `query` on order number, customer e-mail or name, or a shipped serial."""
    orders = SalesOrder.objects.select_related("channel", "customer").annotate(
        line_count=Count("lines", distinct=True)
    )
    if channel_code:
        orders = orders.filter(channel__code=channel_code)
    query = query.strip()
    if query:
        serial_orders = OrderLine.objects.filter(shipped_items__serial_number=query).values(
            "order_id"
        )
        orders = orders.filter(
            Q(number__iexact=query.lstrip("#"))
            | Q(customer__email__iexact=query)
            | Q(customer__name__icontains=query)
            | Q(pk__in=serial_orders)
        )
    return orders.order_by("-placed_at")


def order_get(*, pk: int) -> SalesOrder:
    lines = OrderLine.objects.select_related("product__category").prefetch_related("shipped_items")
    return (
        SalesOrder.objects.select_related("channel", "customer", "ship_from")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .get(pk=pk)
    )


def product_list(*, query: str = "", department: str = "") -> QuerySet[Product]:
    products = Product.objects.select_related("category").annotate(
        component_count=Count("components")
    )
    if department:
        products = products.filter(category__department=department)
    query = query.strip()
    if query:
        products = products.filter(
            Q(sku__icontains=query) | Q(name__icontains=query) | Q(gtin__endswith=query)
        )
    return products.order_by("sku")


def product_get(*, pk: int) -> Product:
    return (
        Product.objects.select_related("category")
        .prefetch_related("components__component", "bundled_in__bundle", "listings__channel")
        .get(pk=pk)
    )


def warehouse_list_with_locations() -> QuerySet[Warehouse]:
    return Warehouse.objects.filter(is_active=True).prefetch_related(
        Prefetch("locations", queryset=Location.objects.filter(is_active=True).order_by("code"))
    )


def delivered_sales_by_channel(*, days: int = 30) -> QuerySet:
    """Delivered order value per channel and currency over the last `days`: the stock of
    sales that can still come back as returns."""
    since = timezone.now() - timedelta(days=days)
    return (
        SalesOrder.objects.filter(delivered_at__gte=since)
        .values("channel__name", "currency")
        .annotate(orders=Count("id", distinct=True), value=Sum(LINE_VALUE))
        .order_by("channel__name")
    )


def orders_per_day(*, days: int = 30) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return list(
        SalesOrder.objects.filter(placed_at__gte=since)
        .annotate(day=TruncDate("placed_at"))
        .values("day")
        .annotate(orders=Count("id"))
        .order_by("day")
    )


def master_data_summary() -> dict:
    """Counts and gaps an operations manager checks before trusting the rest of the system."""
    channels = Channel.objects.annotate(
        mappings=Count("reason_mappings"), listings=Count("listings")
    )
    return {
        "channels": list(channels.order_by("name")),
        "products": Product.objects.count(),
        "products_without_gtin": Product.objects.filter(gtin__isnull=True).count(),
        "serial_tracked": Product.objects.filter(tracking=Product.Tracking.SERIAL).count(),
        "lot_tracked": Product.objects.filter(tracking=Product.Tracking.LOT).count(),
        "customers_by_segment": list(
            Customer.objects.values("segment").annotate(n=Count("id")).order_by("segment")
        ),
        "orders": SalesOrder.objects.count(),
        "reason_codes": ReasonCode.objects.filter(is_active=True).count(),
        "last_heartbeat": WorkerHeartbeat.objects.order_by("-last_seen_at").first(),
    }
