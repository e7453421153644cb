"""Reads of stock: balances, availability, the ledger and a serial's life, each in a fixed
number of queries whatever the size of the ledger."""

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from erp.models import Channel, Location, OrderLine, Product, ShippedItem, Warehouse
from erp.validators import normalize_gtin

from .models import (
    CauseType,
    ChannelAvailability,
    InventoryUnit,
    SafetyStock,
    StockBalance,
    StockMovement,
    StockState,
)
from .models.channels import default_sellable_grades
from .models.states import NEVER_SELLABLE_STATES, TERMINAL_STATES

MOVEMENT_RELATED = (
    "product",
    "unit",
    "actor",
    "from_location__warehouse",
    "to_location__warehouse",
)


def balance_list(*, product_id: int, include_empty: bool = False) -> QuerySet[StockBalance]:
    """The SKU's stock per location, state and lot (one query; served by the balance key index)."""
    balances = StockBalance.objects.filter(product_id=product_id).select_related(
        "location__warehouse"
    )
    if not include_empty:
        balances = balances.filter(qty__gt=0)
    return balances.order_by("location__warehouse__code", "location__code", "state", "lot")


def availability_list(
    *, product_id: int | None = None, channel_id: int | None = None
) -> QuerySet[ChannelAvailability]:
    """ATS per channel (and SKU), with whether the channel has acknowledged the latest figure."""
    rows = ChannelAvailability.objects.select_related("channel", "product")
    if product_id is not None:
        rows = rows.filter(product_id=product_id)
    if channel_id is not None:
        rows = rows.filter(channel_id=channel_id)
    return rows.order_by("channel__name", "product__sku")


def movement_list(
    *,
    product_id: int | None = None,
    location_id: int | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cause_type: str | None = None,
    cause_id: str | None = None,
    unit_id: int | None = None,
) -> QuerySet[StockMovement]:
    """Ledger rows, newest first; a location or state matches either side of a movement."""
    movements = StockMovement.objects.select_related(*MOVEMENT_RELATED)
    if product_id is not None:
        movements = movements.filter(product_id=product_id)
    if location_id is not None:
        movements = movements.filter(
            Q(from_location_id=location_id) | Q(to_location_id=location_id)
        )
    if state is not None:
        movements = movements.filter(Q(from_state=state) | Q(to_state=state))
    if since is not None:
        movements = movements.filter(occurred_at__gte=since)
    if until is not None:
        movements = movements.filter(occurred_at__lt=until)
    if cause_type is not None:
        movements = movements.filter(cause_type=cause_type)
    if cause_id is not None:
        movements = movements.filter(cause_id=cause_id)
    if unit_id is not None:
        movements = movements.filter(unit_id=unit_id)
    return movements.order_by("-occurred_at", "-id")


def unit_get(*, serial: str, product_id: int | None = None) -> InventoryUnit:
    """The unit with this serial (of this SKU, when serials repeat across SKUs) and, in
    `unit.movements.all()`, its whole life oldest first. Two queries.

    Raises InventoryUnit.DoesNotExist, or MultipleObjectsReturned if the serial is ambiguous.
    """
    units = InventoryUnit.objects.select_related("product", "location__warehouse").prefetch_related(
        Prefetch(
            "movements",
            queryset=StockMovement.objects.select_related(*MOVEMENT_RELATED).order_by("id"),
        )
    )
    if product_id is not None:
        units = units.filter(product_id=product_id)
    return units.get(serial=serial)


# --- Stock screens ------------------------------------------------------------------------------
# The reads behind /inventory/: each returns plain data for a template or serializer, in a fixed
# number of queries however many movements the SKU has.

# The states a person checks first, in the order stock flows through them.
KEY_STATES = (
    StockState.AVAILABLE,
    StockState.RESERVED,
    StockState.RECEIVED_PENDING_INSPECTION,
    StockState.QUARANTINED,
    StockState.DAMAGED,
)
RETURN_ENTRY_STATES = frozenset(
    {StockState.IN_TRANSIT_RETURN, StockState.RECEIVED_PENDING_INSPECTION}
)
ON_HAND_STATES = tuple(state for state in StockState if state not in TERMINAL_STATES)


def _on_hand_sum(state: str | None = None) -> Coalesce:
    states = [state] if state else list(ON_HAND_STATES)
    return Coalesce(
        Sum("stock_balances__qty", filter=Q(stock_balances__state__in=states)), Value(0)
    )


def stock_overview(*, query: str = "") -> QuerySet[Product]:
    """SKUs that have ever held stock, each annotated with its quantity in every KEY_STATES
    state (`qty_<state>`), the rest on hand (`qty_other`) and the total on hand (`on_hand`).

    One query (plus the paginator's count); `query` narrows by SKU, name or GTIN.
    """
    products = Product.objects.filter(
        Exists(StockBalance.objects.filter(product_id=OuterRef("pk")))
    ).annotate(
        on_hand=_on_hand_sum(),
        **{f"qty_{state}": _on_hand_sum(state) for state in KEY_STATES},
    )
    products = products.annotate(
        qty_other=F("on_hand") - sum((F(f"qty_{state}") for state in KEY_STATES), Value(0))
    )
    query = query.strip()
    if query:
        products = products.filter(
            Q(sku__icontains=query) | Q(name__icontains=query) | Q(gtin__endswith=query)
        )
    return products.order_by("sku")


@dataclass(frozen=True)
class StockLookup:
    """Where a search term leads: one SKU's page, one serial's page, or neither."""

    sku: str = ""
    serial: str = ""


def stock_lookup(*, query: str) -> StockLookup:
    """Resolve a scanned or typed term exactly: a SKU, a GTIN (any length GS1 allows) or a
    serial number. Two queries at most; an ambiguous or partial term resolves to nothing."""
    query = query.strip()
    if not query:
        return StockLookup()
    match = Q(sku__iexact=query)
    with contextlib.suppress(ValidationError):  # not a GTIN: match the SKU alone
        match |= Q(gtin=normalize_gtin(query))
    skus = list(Product.objects.filter(match).values_list("sku", flat=True)[:2])
    if len(skus) == 1:
        return StockLookup(sku=skus[0])
    serials = list(InventoryUnit.objects.filter(serial=query).values_list("serial", flat=True)[:1])
    return StockLookup(serial=serials[0]) if serials else StockLookup()


def stock_product_get(*, key: str) -> Product:
    """The SKU named by its code or, failing that, its id. Raises Product.DoesNotExist."""
    product = Product.objects.select_related("category").filter(sku=key).first()
    if product is None and key.isdigit():
        product = Product.objects.select_related("category").filter(pk=int(key)).first()
    if product is None:
        raise Product.DoesNotExist(key)
    return product


@dataclass(frozen=True)
class MatrixRow:
    location: Location
    lot: str
    cells: list[int]
    total: int


@dataclass(frozen=True)
class StockMatrix:
    """A SKU's on-hand stock as location (and lot) rows by state columns, with totals.

    `states` are the on-hand states that hold any of it, in canonical order; `left_stock`
    is what went out through the terminal states (disposed, returned to vendor), which is
    never on hand.
    """

    states: list[StockState]
    rows: list[MatrixRow]
    totals: list[int]
    total: int
    left_stock: dict[StockState, int]
    by_state: dict[str, int]


def stock_matrix(*, product_id: int) -> StockMatrix:
    """The SKU's balances as a StockMatrix, in one query."""
    balances = list(balance_list(product_id=product_id))
    on_hand = [b for b in balances if b.state not in TERMINAL_STATES]
    by_state: dict[str, int] = defaultdict(int)
    for b in on_hand:
        by_state[b.state] += b.qty
    states = [state for state in ON_HAND_STATES if by_state.get(state)]
    cells: dict[tuple[int, str], dict[str, int]] = {}
    locations: dict[int, Location] = {}
    for b in on_hand:
        locations[b.location_id] = b.location
        cells.setdefault((b.location_id, b.lot), defaultdict(int))[b.state] += b.qty
    rows = [
        MatrixRow(
            location=locations[location_id],
            lot=lot,
            cells=[qty_by_state.get(state, 0) for state in states],
            total=sum(qty_by_state.values()),
        )
        for (location_id, lot), qty_by_state in cells.items()
    ]
    left: dict[StockState, int] = defaultdict(int)
    for b in balances:
        if b.state in TERMINAL_STATES:
            left[StockState(b.state)] += b.qty
    return StockMatrix(
        states=[StockState(state) for state in states],
        rows=rows,
        totals=[by_state[state] for state in states],
        total=sum(by_state.values()),
        left_stock=dict(left),
        by_state=dict(by_state),
    )


@dataclass(frozen=True)
class ChannelAts:
    """One channel's ATS for a SKU, with the terms that make it up.

    `sellable` is the stock in the states and warehouses the channel's rule sells, less the
    graded serialized units there of a grade it does not sell; `computed` is sellable minus
    safety stock, floored at 0. `ats` is the figure held (and pushed) for
    the channel: it equals `computed` unless a rule changed since the last movement.
    """

    channel: Channel
    states: list[StockState]
    warehouses: list[Warehouse]
    grades: list[str]
    sellable: int
    safety_stock: int
    computed: int
    ats: int
    version: int
    last_pushed_version: int

    @property
    def push_pending(self) -> bool:
        return self.version > self.last_pushed_version

    @property
    def is_stale(self) -> bool:
        return self.computed != self.ats


def channel_ats_list(*, product_id: int) -> list[ChannelAts]:
    """Every active channel's ATS for the SKU, explained by its rule (DESIGN.md: ATS =
    available - reserved - safety stock, restricted by channel rules; a channel without a
    rule sells available stock, as new, from every warehouse). Five queries."""
    channels = (
        Channel.objects.filter(is_active=True)
        .select_related("stock_rule")
        .prefetch_related("stock_rule__warehouses")
        .order_by("name")
    )
    safety = dict(
        SafetyStock.objects.filter(product_id=product_id).values_list("channel_id", "qty")
    )
    held = {
        row.channel_id: row for row in ChannelAvailability.objects.filter(product_id=product_id)
    }
    sellable_by: dict[tuple[int, str], int] = defaultdict(int)
    for warehouse_id, state, qty in (
        StockBalance.objects.filter(product_id=product_id, qty__gt=0)
        .values_list("location__warehouse_id", "state")
        .annotate(total=Sum("qty"))
        .order_by()
    ):
        sellable_by[(warehouse_id, state)] += qty
    graded = list(
        InventoryUnit.objects.filter(product_id=product_id)
        .exclude(grade="")
        .exclude(location=None)
        .values_list("location__warehouse_id", "state", "grade")
        .annotate(units=Count("pk"))
        .order_by()
    )
    rows = []
    for channel in channels:
        rule = getattr(channel, "stock_rule", None)
        sold = rule.sellable_states if rule else [StockState.AVAILABLE]
        states = [StockState(s) for s in StockState if s in sold and s not in NEVER_SELLABLE_STATES]
        warehouses = list(rule.warehouses.all()) if rule else []
        warehouse_ids = {w.pk for w in warehouses}
        grades = rule.sellable_grades if rule else default_sellable_grades()
        sellable = sum(
            qty
            for (warehouse_id, state), qty in sellable_by.items()
            if state in states and (not warehouse_ids or warehouse_id in warehouse_ids)
        ) - sum(
            units
            for warehouse_id, state, grade, units in graded
            if state in states
            and (not warehouse_ids or warehouse_id in warehouse_ids)
            and grade not in grades
        )
        safety_stock = safety.get(channel.pk, 0)
        row = held.get(channel.pk)
        rows.append(
            ChannelAts(
                channel=channel,
                states=states,
                warehouses=warehouses,
                grades=grades,
                sellable=sellable,
                safety_stock=safety_stock,
                computed=max(0, sellable - safety_stock),
                ats=row.ats if row else 0,
                version=row.version if row else 0,
                last_pushed_version=row.last_pushed_version if row else 0,
            )
        )
    return rows


def movement_order_lines(*, movements: Iterable[StockMovement]) -> dict[str, OrderLine]:
    """{cause_id: order line} for the order shipments among these movements, in one query
    (none when there are none), so each can link to its order."""
    line_ids = {
        int(m.cause_id)
        for m in movements
        if m.cause_type == CauseType.ORDER_SHIPMENT and m.cause_id.isdigit()
    }
    if not line_ids:
        return {}
    lines = OrderLine.objects.filter(pk__in=line_ids).select_related("order__channel")
    return {str(line.pk): line for line in lines}


@dataclass(frozen=True)
class StockHistory:
    """On hand per state at the end of each day of a window, for a chart."""

    days: list[date]
    series: dict[StockState, list[int]]


def stock_history(*, product_id: int, days: int = 30, on_hand: dict[str, int]) -> StockHistory:
    """Walk back from today's on hand (`StockMatrix.by_state`) through the window's movements,
    netted per day and state in one query, so the cost does not depend on the ledger's size
    before the window."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    window = StockMovement.objects.filter(
        product_id=product_id,
        occurred_at__gte=timezone.make_aware(datetime.combine(start, time.min)),
    )
    net: dict[tuple[date, str], int] = defaultdict(int)
    for day, to_state, from_state, qty in (
        window.annotate(day=TruncDate("occurred_at"))
        .values_list("day", "to_state", "from_state")
        .annotate(total=Sum("qty"))
        .order_by()
    ):
        if to_state:
            net[(day, to_state)] += qty
        if from_state:
            net[(day, from_state)] -= qty
    states = [s for s in ON_HAND_STATES if on_hand.get(s) or any(k[1] == s for k in net)]
    axis = [start + timedelta(days=n) for n in range(days)]
    series: dict[StockState, list[int]] = {}
    for state in states:
        level, levels = on_hand.get(state, 0), []
        for day in reversed(axis):
            levels.append(level)
            level -= net.get((day, state), 0)
        series[StockState(state)] = list(reversed(levels))
    return StockHistory(days=axis, series=series)


@dataclass(frozen=True)
class UnitLife:
    """A serial's life: the unit (where it is now), every movement oldest first, the order
    lines it shipped on, and its latest return and inspection movements."""

    unit: InventoryUnit
    movements: list[StockMovement]
    shipments: list[ShippedItem]
    order_lines: dict[str, OrderLine]
    last_return: StockMovement | None
    last_inspection: StockMovement | None


def unit_life_get(*, serial: str, product_id: int | None = None) -> UnitLife:
    """The unit (see `unit_get`) and its life, in four queries.

    Raises InventoryUnit.DoesNotExist, or MultipleObjectsReturned if the serial is ambiguous.
    """
    unit = unit_get(serial=serial, product_id=product_id)
    movements = list(unit.movements.all())
    shipments = list(
        ShippedItem.objects.filter(serial_number=unit.serial, line__product_id=unit.product_id)
        .select_related("line__order__channel")
        .order_by("created_at", "pk")
    )
    # A return is caused by a return case, or is the unit coming back in from outside after
    # its first receipt (a 3PL feed may not name the case).
    returns = [
        m
        for n, m in enumerate(movements)
        if m.cause_type == CauseType.RETURN_CASE
        or (n > 0 and m.from_location_id is None and m.to_state in RETURN_ENTRY_STATES)
    ]
    inspections = [m for m in movements if m.cause_type == CauseType.INSPECTION]
    return UnitLife(
        unit=unit,
        movements=movements,
        shipments=shipments,
        order_lines=movement_order_lines(movements=movements),
        last_return=returns[-1] if returns else None,
        last_inspection=inspections[-1] if inspections else None,
    )


def unit_list(*, serial: str = "") -> QuerySet[InventoryUnit]:
    """Units, optionally of one serial (every SKU that has it), with their SKU and location."""
    units = InventoryUnit.objects.select_related("product", "location__warehouse")
    if serial:
        units = units.filter(serial=serial)
    return units.order_by("product__sku", "serial")


def balance_api_list() -> QuerySet[StockBalance]:
    """Every non-zero balance with its SKU and location, for the API's filters."""
    return (
        StockBalance.objects.filter(qty__gt=0)
        .select_related("product", "location__warehouse")
        .order_by("product__sku", "location__warehouse__code", "location__code", "state", "lot")
    )
