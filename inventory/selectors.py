"""Reads of stock: balances, availability, the ledger and a serial's life, each in a fixed
number of queries whatever the size of the ledger."""

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from .models import ChannelAvailability, InventoryUnit, StockBalance, StockMovement

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
