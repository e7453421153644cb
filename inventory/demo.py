"""Demo stock for `manage.py seed_demo`: opening balances of every SKU in both warehouses and a
little stock in other states, all posted through `inventory.services`; and clearing it again.

Every movement the demo posts has an idempotency key starting with DEMO_KEY_PREFIX: that is
how `--reset` tells demo stock from stock somebody posted while using the demo.
"""

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

import pgtrigger
from django.db import connection
from django.db.models import Model

from erp.models import Channel, Location, OutboxMessage, Product, Warehouse

from . import services
from .models import (
    CauseType,
    ChannelAvailability,
    InventoryUnit,
    SafetyStock,
    StockBalance,
    StockMovement,
    StockState,
)
from .services import BatchLine

S = StockState
DEMO_KEY_PREFIX = "demo:"
APPEND_ONLY_TRIGGER = "inventory.StockMovement:stock_movement_append_only"
# Opening quantity per SKU and warehouse, by tracking: serialized goods are dearer and fewer.
OPENING_QTY = {
    Product.Tracking.NONE: (20, 160),
    Product.Tracking.LOT: (30, 200),
    Product.Tracking.SERIAL: (4, 12),
}
PENDING_INSPECTION_SKUS = 12  # quantity SKUs with a delivery still on a receiving dock
QUARANTINED_SKUS = 8  # quantity SKUs with units held in the quarantine cage
DAMAGED_SKUS = 6  # quantity SKUs with units found damaged
QUARANTINED_SERIALS = 4  # serialized units held for verification
SAFETY_STOCK_SKUS = 20  # (SKU, channel) pairs holding a few units back


class DemoStockResetRefused(Exception):
    """The ledger holds movements the demo did not post, or cannot be cleared here."""


def demo_stock_seed(*, rng: random.Random, as_of: datetime) -> dict[str, int]:
    """Effects: receives opening stock of every active SKU into a stock location of each
    warehouse (serialized SKUs as new units), lands a few deliveries on receiving docks pending
    inspection, moves a few units to quarantine or damaged, and holds back a little safety
    stock per channel. ATS and outbox rows follow from the services. Returns counts.

    `as_of` is the demo's "now": opening stock is received well before the oldest demo order,
    the other states in the last days.
    """
    products = list(Product.objects.filter(is_active=True).order_by("sku"))
    warehouses = list(Warehouse.objects.order_by("code"))
    locations = _locations_by_kind(warehouses)
    opened_at = as_of - timedelta(days=125)

    quantity_lines: list[BatchLine] = []
    serials_received = 0
    on_shelf: list[tuple[Product, Warehouse, int, str, int]] = []  # quantity stock, for moves
    serial_units: list[tuple[Product, str, Warehouse]] = []
    for product in products:
        low, high = OPENING_QTY[Product.Tracking(product.tracking)]
        for number, warehouse in enumerate(warehouses, start=1):
            location_id = rng.choice(locations[warehouse.pk][Location.Kind.STOCK])
            qty = rng.randint(low, high)
            key = f"{DEMO_KEY_PREFIX}opening:{warehouse.code}:{product.sku}"
            if product.tracking == Product.Tracking.SERIAL:
                made = opened_at.date() - timedelta(days=rng.randint(20, 120))
                year, week, _ = made.isocalendar()
                serials = [
                    f"{product.sku}-{year % 100:02d}{week:02d}-{number}{n:03d}"
                    for n in range(1, qty + 1)
                ]
                services.stock_receive(
                    product_id=product.pk,
                    location_id=location_id,
                    qty=qty,
                    serials=serials,
                    idempotency_key=key,
                    cause_type=CauseType.RECEIPT,
                    cause_id="opening-stock",
                    occurred_at=opened_at,
                )
                serials_received += qty
                serial_units.extend((product, serial, warehouse) for serial in serials)
                continue
            lot = _lot(product, opened_at) if product.tracking == Product.Tracking.LOT else ""
            quantity_lines.append(
                BatchLine(
                    idempotency_key=key,
                    product_id=product.pk,
                    qty=qty,
                    to_location_id=location_id,
                    to_state=S.AVAILABLE,
                    lot=lot,
                    cause_id="opening-stock",
                )
            )
            on_shelf.append((product, warehouse, location_id, lot, qty))
    services.stock_post_batch(
        lines=quantity_lines,
        cause_type=CauseType.RECEIPT,
        reason="Opening stock",
        occurred_at=opened_at,
    )

    pending = _receipts_pending_inspection(rng, on_shelf, locations, as_of)
    quarantined = _moves(
        rng,
        on_shelf,
        locations,
        count=QUARANTINED_SKUS,
        kind=Location.Kind.QUARANTINE,
        state=S.QUARANTINED,
        reason="Held for a supplier quality check",
        when=as_of - timedelta(days=3),
    )
    damaged = _moves(
        rng,
        on_shelf,
        locations,
        count=DAMAGED_SKUS,
        kind=Location.Kind.INSPECTION,
        state=S.DAMAGED,
        reason="Found damaged at the cycle count",
        when=as_of - timedelta(days=2),
    )
    for product, serial, warehouse in rng.sample(serial_units, QUARANTINED_SERIALS):
        services.unit_transition(
            product_id=product.pk,
            serial=serial,
            to_state=S.QUARANTINED,
            to_location_id=locations[warehouse.pk][Location.Kind.QUARANTINE][0],
            cause_type=CauseType.INSPECTION,
            idempotency_key=f"{DEMO_KEY_PREFIX}quarantine:{product.sku}:{serial}",
            reason="Seal broken: verify before selling",
            occurred_at=as_of - timedelta(days=1),
        )

    channels = list(Channel.objects.order_by("code"))
    held = rng.sample([(c, p) for c in channels for p in products], SAFETY_STOCK_SKUS)
    # Safety stock is configuration, not a stock change; the ATS it changes is recomputed below.
    SafetyStock.objects.bulk_create(
        SafetyStock(channel=channel, product=product, qty=rng.randint(2, 5))
        for channel, product in held
    )
    services.availability_recompute(product_ids={product.pk for _, product in held})
    return {
        "stock movements": StockMovement.objects.count(),
        "serialized units": serials_received,
        "units pending inspection": pending,
        "units quarantined": quarantined + QUARANTINED_SERIALS,
        "units damaged": damaged,
        "safety stock rules": len(held),
    }


def _locations_by_kind(warehouses: list[Warehouse]) -> dict[int, dict[str, list[int]]]:
    by_kind: dict[int, dict[str, list[int]]] = {w.pk: {} for w in warehouses}
    for location in Location.objects.filter(warehouse__in=warehouses).order_by("code"):
        by_kind[location.warehouse_id].setdefault(location.kind, []).append(location.pk)
    return by_kind


def _lot(product: Product, made: datetime) -> str:
    return f"L{made:%y%m}-{product.sku[-4:]}"


def _receipts_pending_inspection(rng, on_shelf, locations, as_of: datetime) -> int:
    """Deliveries from suppliers that reached a receiving dock and wait for inspection."""
    picks = rng.sample(on_shelf, PENDING_INSPECTION_SKUS)
    lines = [
        BatchLine(
            idempotency_key=f"{DEMO_KEY_PREFIX}inbound:{warehouse.code}:{product.sku}",
            product_id=product.pk,
            qty=rng.randint(6, 24),
            to_location_id=rng.choice(locations[warehouse.pk][Location.Kind.RECEIVING]),
            to_state=S.RECEIVED_PENDING_INSPECTION,
            lot=_lot(product, as_of) if lot else "",
            cause_id=f"PO-{rng.randint(10000, 99999)}",
        )
        for product, warehouse, _, lot, _ in picks
    ]
    services.stock_post_batch(
        lines=lines,
        cause_type=CauseType.RECEIPT,
        reason="Supplier delivery",
        occurred_at=as_of - timedelta(hours=6),
    )
    return sum(line.qty for line in lines)


def _moves(rng, on_shelf, locations, *, count, kind, state, reason, when) -> int:
    """Move a few units of `count` shelf stocks to a location of `kind` in `state`."""
    picks = rng.sample(on_shelf, count)
    lines = [
        BatchLine(
            idempotency_key=f"{DEMO_KEY_PREFIX}{state}:{warehouse.code}:{product.sku}",
            product_id=product.pk,
            qty=rng.randint(1, min(4, qty)),
            from_location_id=location_id,
            from_state=S.AVAILABLE,
            to_location_id=locations[warehouse.pk][kind][0],
            to_state=state,
            lot=lot,
        )
        for product, warehouse, location_id, lot, qty in picks
    ]
    services.stock_post_batch(
        lines=lines, cause_type=CauseType.ADJUSTMENT, reason=reason, occurred_at=when
    )
    return sum(line.qty for line in lines)


def demo_stock_reset_check() -> None:
    """Refuses (DemoStockResetRefused) on SQLite once there is a ledger, deleting nothing: the
    demo reset asks first, before any app deletes its part."""
    if connection.vendor != "postgresql" and StockMovement.objects.exists():
        raise DemoStockResetRefused(
            "the stock ledger is append-only and this database (SQLite) will not bypass that; "
            "delete var/ and run `make run` again to start over"
        )


def demo_stock_reset() -> dict[str, int]:
    """Effects: deletes the stock ledger, balances, units (and their history), availability,
    safety stock and the availability outbox messages; returns rows deleted per table. Call
    inside a transaction. Channel rules are a person's configuration, never seeded: one left
    makes the master-data reset refuse, as before.

    Refuses (DemoStockResetRefused, nothing deleted) when the ledger holds a movement the demo
    did not post, and on SQLite whenever there is a ledger: there the append-only rule is a
    plain trigger this reset will not drop; delete var/ to start over instead. On PostgreSQL
    the append-only trigger is bypassed for these deletes only.
    """
    if not StockMovement.objects.exists():
        return _delete([ChannelAvailability, SafetyStock])
    foreign = StockMovement.objects.exclude(idempotency_key__startswith=DEMO_KEY_PREFIX)
    if foreign.exists():
        raise DemoStockResetRefused(
            f"the stock ledger holds {foreign.count():,} movement(s) the demo did not post"
        )
    demo_stock_reset_check()
    with pgtrigger.ignore(APPEND_ONLY_TRIGGER):
        deleted = _delete(
            [
                StockMovement,
                InventoryUnit.history.model,
                InventoryUnit,
                StockBalance,
                ChannelAvailability,
                SafetyStock,
            ]
        )
    outbox = OutboxMessage.objects.filter(topic=services.AVAILABILITY_TOPIC)
    deleted["availability messages"] = outbox._raw_delete(outbox.db)
    return deleted


def _delete(models: Iterable[type[Model]]) -> dict[str, int]:
    """Plain DELETEs, children first: no per-row signals or history for thousands of rows."""
    deleted = {}
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
            deleted[str(model._meta.verbose_name_plural)] = cursor.rowcount
    return deleted
