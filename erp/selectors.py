"""Reads of master data and the exception queue for screens and APIs. Each owns its joins, so
screens stay O(1)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
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
from django.utils.text import capfirst

from erp.models import (
    Channel,
    Customer,
    ExceptionCase,
    ExceptionNote,
    Location,
    OrderLine,
    Product,
    ReasonCode,
    SalesOrder,
    Warehouse,
    WorkerHeartbeat,
)
from erp.models.exceptions import ACTIVE_STATES

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


# ---- Exception queue ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionFilters:
    """The queue's filters, as the screen and any API take them. `state` is a state value,
    "active" (open, assigned or escalated) or "all"; `assignee` is "mine", "unassigned" or
    empty; `sort` is "sla" (due first) or "age" (oldest first)."""

    kind: str = ""
    state: str = "active"
    owner_role: str = ""
    assignee: str = ""
    overdue: bool = False
    sort: str = "sla"


QUEUE_ORDER = {"sla": ("sla_due_at", "opened_at", "pk"), "age": ("opened_at", "pk")}


def exception_list(*, user, filters: ExceptionFilters) -> QuerySet[ExceptionCase]:
    """The exception queue for `user`, filtered; one query whatever its length."""
    exceptions = ExceptionCase.objects.select_related("assignee")
    if filters.kind:
        exceptions = exceptions.filter(kind=filters.kind)
    if filters.state == "active":
        exceptions = exceptions.filter(state__in=ACTIVE_STATES)
    elif filters.state != "all":
        exceptions = exceptions.filter(state=filters.state)
    if filters.owner_role:
        exceptions = exceptions.filter(owner_role=filters.owner_role)
    if filters.assignee == "mine":
        exceptions = exceptions.filter(assignee=user)
    elif filters.assignee == "unassigned":
        exceptions = exceptions.filter(assignee__isnull=True)
    if filters.overdue:
        exceptions = exceptions.filter(state__in=ACTIVE_STATES, sla_due_at__lt=timezone.now())
    return exceptions.order_by(*QUEUE_ORDER.get(filters.sort, QUEUE_ORDER["sla"]))


def exception_get(*, pk: int) -> ExceptionCase:
    """One exception with the people on it and its notes' authors."""
    notes = ExceptionNote.objects.select_related("author")
    return (
        ExceptionCase.objects.select_related(
            "assignee", "opened_by", "resolved_by", "product", "sales_order"
        )
        .prefetch_related(Prefetch("notes", queryset=notes))
        .get(pk=pk)
    )


def open_exceptions_exist(*, subject_type: str, subject_id: str | int) -> bool:
    """Whether anything is still unresolved about a subject: a case with an open exception
    cannot close."""
    return ExceptionCase.objects.filter(
        subject_type=subject_type, subject_id=str(subject_id), state__in=ACTIVE_STATES
    ).exists()


def exception_queue_counts(*, user) -> dict[str, int]:
    """Active, overdue, unassigned and the user's own active exceptions, in one query."""
    active = Q(state__in=ACTIVE_STATES)
    return ExceptionCase.objects.aggregate(
        active=Count("pk", filter=active),
        overdue=Count("pk", filter=active & Q(sla_due_at__lt=timezone.now())),
        unassigned=Count("pk", filter=active & Q(assignee__isnull=True)),
        mine=Count("pk", filter=active & Q(assignee=user)),
    )


def exception_assignable_users(*, exception: ExceptionCase, actor) -> QuerySet:
    """Whom `actor` may assign the exception to: themself, or an active person in its owner
    role (the rule `exception_assign` enforces)."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name=exception.owner_role) | Q(pk=actor.pk))
        .distinct()
        .order_by("username")
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str
    title: str
    body: str = ""
    changes: tuple[tuple[str, str, str], ...] = ()
    evidence: dict = field(default_factory=dict)


# The fields whose changes the timeline shows, in this order.
# The reason of a resolution is the title of its entry, so it is not repeated as a change.
TIMELINE_FIELDS = ("state", "assignee", "owner_role", "sla_due_at", "summary")


def _shown(record, name: str) -> str:
    if name == "assignee":
        return record.assignee.get_username() if record.assignee_id else "nobody"
    if name == "sla_due_at":
        return timezone.localtime(record.sla_due_at).strftime("%d %b %Y %H:%M")
    if name in ("state", "owner_role"):
        return getattr(record, f"get_{name}_display")()
    return getattr(record, name) or "—"


def exception_timeline(*, exception: ExceptionCase) -> list[TimelineEntry]:
    """Notes and changes (from the history, with their reasons) merged, oldest first; two
    queries however long the story."""
    records = list(
        exception.history.select_related("history_user", "assignee").order_by(
            "history_date", "history_id"
        )
    )
    labels = {name: ExceptionCase._meta.get_field(name).verbose_name for name in TIMELINE_FIELDS}
    entries = []
    previous = None
    for record in records:
        who = record.history_user.get_username() if record.history_user else "System"
        if previous is None:
            # Details and evidence are on the page above; `opened_at` is when it was reported.
            entries.append(
                TimelineEntry(at=exception.opened_at, who=who, title=f"Opened: {record.summary}")
            )
        else:
            changes = tuple(
                (capfirst(labels[name]), _shown(previous, name), _shown(record, name))
                for name in TIMELINE_FIELDS
                if getattr(previous, ExceptionCase._meta.get_field(name).attname)
                != getattr(record, ExceptionCase._meta.get_field(name).attname)
            )
            entries.append(
                TimelineEntry(
                    at=record.history_date,
                    who=who,
                    title=record.history_change_reason or "Changed",
                    changes=changes,
                )
            )
        previous = record
    for note in exception.notes.all():
        entries.append(
            TimelineEntry(
                at=note.created_at,
                who=note.author.get_username() if note.author else "System",
                title="Note",
                body=note.body,
                evidence=note.evidence,
            )
        )
    return sorted(entries, key=lambda entry: entry.at)
