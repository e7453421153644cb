"""Builds the whole demo dataset in one transaction: `demo_data_seed` is what
`manage.py seed_demo` calls."""

import random
import time
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction

from erp.models import Customer, CustomerChannelAccount, OrderLine, SalesOrder, ShippedItem

from .bulk import analyze, bulk_insert
from .catalog import catalog_create
from .network import FLOOR_PLAN, Network, network_create
from .orders import PlannedOrder, orders_plan
from .people import DemoLogin, accounts_plan, customers_plan, demo_users_ensure
from .reset import demo_data_reset

CUSTOMERS_PER_SCALE = 1_500
ORDERS_PER_SCALE = 5_000


@dataclass
class SeedReport:
    counts: dict[str, int]
    logins: list[DemoLogin]
    deleted: dict[str, int] = field(default_factory=dict)  # by --reset, per table
    seconds: dict[str, float] = field(default_factory=dict)  # per phase, in run order


@transaction.atomic
def demo_data_seed(*, seed: int, as_of: date, scale: int = 1, reset: bool = False) -> SeedReport:
    """Create the demo dataset. Same `seed`, `as_of` and `scale` give the same data.

    Effects: with `reset`, first deletes the seeded master-data tables' rows (see
    `demo_data_reset`). Creates 3 channels with reason mappings, 2 warehouses with every kind
    of location, ~200 SKUs with kits and listings, 1,500 * `scale` customers with their
    channel accounts, 5,000 * `scale` delivered orders with lines and shipped serials/lots,
    and the demo users. All or nothing: one transaction.
    """
    if scale < 1:
        raise ValueError("scale is at least 1")
    rng = random.Random(seed)
    clock = _Clock()
    counts: dict[str, int] = {}
    deleted: dict[str, int] = {}
    if reset:
        deleted = demo_data_reset()
        clock.lap("reset")

    network = network_create(rng=rng)
    catalog = catalog_create(rng=rng, channels=network.channels)
    counts |= {
        "channels": len(network.channels),
        "reason mappings": network.reason_mappings,
        "warehouses": len(network.warehouses),
        "locations": len(network.warehouses) * len(FLOOR_PLAN),
        "products (SKUs)": len(catalog.skus),
        "bundles": catalog.bundles,
        "channel listings": catalog.listings,
    }
    clock.lap("master data")

    customers = customers_plan(
        rng=rng, count=CUSTOMERS_PER_SCALE * scale, channels=network.channels
    )
    orders = orders_plan(
        rng=rng,
        count=ORDERS_PER_SCALE * scale,
        as_of=as_of,
        customers=customers,
        channels=network.channels,
        warehouses=network.warehouses,
        skus=catalog.skus,
    )
    ordered_on: list[set[int]] = [set() for _ in customers]
    for order in orders:
        ordered_on[order.customer].add(order.channel)
    accounts = accounts_plan(rng=rng, channels=network.channels, ordered_on=ordered_on)
    clock.lap("plan")

    channel_ids = [channel.pk for channel in network.channels]
    customer_ids = bulk_insert(
        Customer,
        ["email", "name", "segment"],
        [(c.email, c.name, c.segment) for c in customers],
    )
    bulk_insert(
        CustomerChannelAccount,
        ["customer_id", "channel_id", "external_id"],
        [(customer_ids[cu], channel_ids[ch], external) for cu, ch, external in accounts],
    )
    written = _orders_insert(orders, network, channel_ids, customer_ids)
    analyze(Customer, CustomerChannelAccount, SalesOrder, OrderLine, ShippedItem)
    counts |= {"customers": len(customers), "customer channel accounts": len(accounts)}
    counts |= written
    clock.lap("write")

    logins = demo_users_ensure()
    counts["demo users"] = len(logins)
    clock.lap("users")
    return SeedReport(counts=counts, logins=logins, deleted=deleted, seconds=clock.laps)


def _orders_insert(
    orders: list[PlannedOrder], network: Network, channel_ids: list[int], customer_ids: list[int]
) -> dict[str, int]:
    """Writes orders, then their lines, then shipped items, each child naming its parent's
    key as the bulk writer returned it."""
    currencies = [channel.currency for channel in network.channels]
    warehouse_ids = [warehouse.pk for warehouse in network.warehouses]
    order_ids = bulk_insert(
        SalesOrder,
        [
            "channel_id",
            "number",
            "customer_id",
            "currency",
            "ship_from_id",
            "placed_at",
            "shipped_at",
            "delivered_at",
        ],
        [
            (
                channel_ids[o.channel],
                o.number,
                customer_ids[o.customer],
                currencies[o.channel],
                warehouse_ids[o.warehouse],
                o.placed_at,
                o.shipped_at,
                o.delivered_at,
            )
            for o in orders
        ],
    )
    lines = [
        (order_id, line) for order_id, o in zip(order_ids, orders, strict=True) for line in o.lines
    ]
    line_ids = bulk_insert(
        OrderLine,
        ["order_id", "line_number", "product_id", "channel_line_id", "quantity", "unit_price"],
        [
            (
                order_id,
                ln.line_number,
                ln.product_id,
                ln.channel_line_id,
                ln.quantity,
                ln.unit_price,
            )
            for order_id, ln in lines
        ],
    )
    items = bulk_insert(
        ShippedItem,
        ["line_id", "serial_number", "lot_number", "lot_expiry", "quantity"],
        [
            (line_id, *item)
            for line_id, (_, line) in zip(line_ids, lines, strict=True)
            for item in line.items
        ],
    )
    return {"orders": len(order_ids), "order lines": len(line_ids), "shipped items": len(items)}


class _Clock:
    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = now - self._last
        self._last = now
