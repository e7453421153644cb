"""Reads of master data for screens and APIs. Each owns its joins, so screens stay O(1)."""

from datetime import timedelta

from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
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

MONEY = DecimalField(max_digits=14, decimal_places=2)
LINE_VALUE = ExpressionWrapper(F("lines__quantity") * F("lines__unit_price"), output_field=MONEY)
# A worker beats every minute (CELERY_BEAT_SCHEDULE); five missed beats means queued work stalls.
HEARTBEAT_STALE_AFTER = timedelta(minutes=5)


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
    """One order with its `total`, its lines (each with `line_total`) and their shipped
    serials and lots."""
    lines = (
        OrderLine.objects.select_related("product__category")
        .prefetch_related("shipped_items")
        .annotate(line_total=ExpressionWrapper(F("quantity") * F("unit_price"), output_field=MONEY))
    )
    return (
        SalesOrder.objects.select_related("channel", "customer", "ship_from")
        .annotate(total=Sum(LINE_VALUE))
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
    """Active warehouses with their active locations, in the order returned goods flow
    through them (receiving, inspection, quarantine, stock…), then by code."""
    flow_order = Case(
        *(When(kind=kind, then=Value(i)) for i, kind in enumerate(Location.Kind.values)),
        output_field=IntegerField(),
    )
    locations = Location.objects.filter(is_active=True).order_by(flow_order, "code")
    return Warehouse.objects.filter(is_active=True).prefetch_related(
        Prefetch("locations", queryset=locations)
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
    """Orders placed per day (UTC) over the last `days`: a row for every day, quiet ones too."""
    now = timezone.now()
    counts = dict(
        SalesOrder.objects.filter(placed_at__gte=now - timedelta(days=days))
        .annotate(day=TruncDate("placed_at"))
        .order_by()
        .values_list("day")
        .annotate(orders=Count("id"))
    )
    today = now.date()
    return [
        {"day": day, "orders": counts.get(day, 0)}
        for day in (today - timedelta(days=offset) for offset in range(days, -1, -1))
    ]


def master_data_summary() -> dict:
    """Counts and gaps an operations manager checks before trusting the rest of the system."""
    # distinct: the two joins multiply each other's rows.
    channels = Channel.objects.annotate(
        mapping_count=Count("reason_mappings", distinct=True),
        listing_count=Count("listings", distinct=True),
    )
    segments = Customer.objects.order_by("segment").values_list("segment").annotate(n=Count("id"))
    last_heartbeat = WorkerHeartbeat.objects.order_by("-last_seen_at").first()
    return {
        "channels": list(channels.order_by("name")),
        "products": Product.objects.count(),
        "products_without_gtin": Product.objects.filter(gtin__isnull=True).count(),
        "serial_tracked": Product.objects.filter(tracking=Product.Tracking.SERIAL).count(),
        "lot_tracked": Product.objects.filter(tracking=Product.Tracking.LOT).count(),
        "customers_by_segment": [
            {"segment": segment, "label": Customer.Segment(segment).label, "n": n}
            for segment, n in segments
        ],
        "orders": SalesOrder.objects.count(),
        "reason_codes": ReasonCode.objects.filter(is_active=True).count(),
        "last_heartbeat": last_heartbeat,
        "heartbeat_is_stale": last_heartbeat is None
        or last_heartbeat.last_seen_at < timezone.now() - HEARTBEAT_STALE_AFTER,
    }
