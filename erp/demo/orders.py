"""Delivered sales orders for the demo: who bought what, on which channel, shipped from where,
and which serials and lots left the warehouse for each line.

Planned in memory from the seeded generator only (no database reads), so the same seed and
as-of date always plan the same orders; `seed` writes them.
"""

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from erp.models import Category, Channel, Customer, Product, Warehouse

from .catalog import Sku, cents_to_money
from .identifiers import DIGITS, SerialNumbers, UniqueDraw, random_code
from .people import PlannedCustomer

HISTORY_DAYS = 120
HOUR = 3600
DAY = 24 * HOUR

# Share of orders a customer places on a channel other than their usual one (same region).
CHANNEL_SWITCH_PERCENT = 12

# Per channel: hours from order to dispatch, days in transit, and the percent of orders the
# 3PL ships (the rest leave our own warehouse). The EU marketplace is fulfilled by the 3PL
# alone, which ships internationally; Amazon merchant-fulfilled orders are split half-half.
FULFILMENT = {
    "harbor-store": ((3, 40), (1, 5), 35),
    "amazon-us": ((2, 30), (1, 4), 50),
    "euromarket-eu": ((8, 60), (3, 8), 100),
}

LINES_PER_ORDER = ([1, 2, 3], [65, 25, 10])

# Units per line by department for a consumer; wholesale accounts buy in case quantities.
CONSUMER_QUANTITY = {
    Category.Department.APPAREL: ([1, 2, 3], [82, 14, 4]),
    Category.Department.ELECTRONICS: ([1, 2], [95, 5]),
    Category.Department.HEALTH_BEAUTY: ([1, 2, 3, 4], [60, 25, 10, 5]),
}
WHOLESALE_QUANTITY = {
    Category.Department.APPAREL: (6, 24),
    Category.Department.ELECTRONICS: (2, 8),
    Category.Department.HEALTH_BEAUTY: (6, 36),
}

# Percent of list price paid: mostly full price, sometimes a promotion. Wholesale pays a fixed
# trade price. EU prices are kept at parity with US list prices, VAT included, as many brands do.
PRICE_PERCENT = ([100, 95, 90, 85, 80], [68, 8, 12, 7, 5])
WHOLESALE_PRICE_PERCENT = 75

LOT_SPLIT_PERCENT = 20  # a multi-unit line is sometimes picked from two lots


@dataclass(slots=True)
class PlannedLine:
    line_number: int
    product_id: int
    channel_line_id: str
    quantity: int
    unit_price: Decimal
    # (serial number, lot number, lot expiry, quantity): one per serial, one per lot picked
    items: list[tuple[str, str, date | None, int]] = field(default_factory=list)


@dataclass(slots=True)
class PlannedOrder:
    channel: int  # index into the channel list
    customer: int  # index into the customer list
    warehouse: int  # index into the warehouse list
    placed_at: datetime
    shipped_at: datetime
    delivered_at: datetime
    number: str = ""
    lines: list[PlannedLine] = field(default_factory=list)


def orders_plan(
    *,
    rng: random.Random,
    count: int,
    as_of: date,
    customers: list[PlannedCustomer],
    channels: list[Channel],
    warehouses: list[Warehouse],
    skus: list[Sku],
) -> list[PlannedOrder]:
    """`count` delivered orders placed in the HISTORY_DAYS before `as_of`, oldest first.

    Every customer gets at least one order; the rest go to customers in proportion to their
    segment's activity.
    """
    anchor = datetime.combine(as_of, time(0), tzinfo=UTC)
    buyers = list(range(len(customers)))[:count]
    activity = list(itertools.accumulate(customer.activity for customer in customers))
    buyers += rng.choices(range(len(customers)), cum_weights=activity, k=count - len(buyers))

    orders = [
        _order_skeleton(rng, anchor, customers[buyer], buyer, channels, warehouses)
        for buyer in buyers
    ]
    # Channels number their orders as they arrive, so numbers follow the order dates.
    orders.sort(key=lambda order: order.placed_at)
    numbering = [_order_numbers(channel, rng) for channel in channels]
    picker = _SkuPicker(skus)
    serials = SerialNumbers(rng)
    line_ids = [_line_ids(channel, rng) for channel in channels]
    for order in orders:
        order.number = next(numbering[order.channel])
        customer = customers[order.customer]
        for line_number, sku in enumerate(picker.pick(rng), start=1):
            line = _line(rng, sku, customer, line_number)
            line.channel_line_id = line_ids[order.channel](order.number, line_number)
            if sku.tracking == Product.Tracking.SERIAL:
                line.items = _serials(rng, serials, sku, line.quantity, order.placed_at)
            elif sku.tracking == Product.Tracking.LOT:
                line.items = _lots(rng, sku, line.quantity, order.placed_at)
            order.lines.append(line)
    return orders


def _order_skeleton(rng, anchor, customer, buyer, channels, warehouses) -> PlannedOrder:
    channel = customer.home_channel
    switches = rng.randrange(100) < CHANNEL_SWITCH_PERCENT
    if switches and customer.segment != Customer.Segment.WHOLESALE:
        region = channels[channel].region
        others = [i for i, c in enumerate(channels) if c.region == region and i != channel]
        channel = rng.choice(others) if others else channel
    (ship_low, ship_high), (transit_low, transit_high), third_party_percent = FULFILMENT[
        channels[channel].code
    ]
    ship_lag = rng.randint(ship_low * HOUR, ship_high * HOUR)
    transit = rng.randint(transit_low * DAY, transit_high * DAY)
    # Placed anywhere in the window that still leaves time to be delivered by the as-of date.
    placed_at = anchor - timedelta(seconds=rng.randint(ship_lag + transit, HISTORY_DAYS * DAY))
    shipped_at = placed_at + timedelta(seconds=ship_lag)
    operator = (
        Warehouse.Operator.THIRD_PARTY
        if rng.randrange(100) < third_party_percent
        else Warehouse.Operator.OWN
    )
    warehouse = next(i for i, w in enumerate(warehouses) if w.operator == operator)
    return PlannedOrder(
        channel=channel,
        customer=buyer,
        warehouse=warehouse,
        placed_at=placed_at,
        shipped_at=shipped_at,
        delivered_at=shipped_at + timedelta(seconds=transit),
    )


class _SkuPicker:
    """Draws the distinct SKUs of one order, popular ones more often."""

    def __init__(self, skus: list[Sku]) -> None:
        self._skus = skus
        self._cumulative = list(itertools.accumulate(sku.demand for sku in skus))

    def pick(self, rng: random.Random) -> list[Sku]:
        wanted = rng.choices(*LINES_PER_ORDER)[0]
        picked: list[Sku] = []
        while len(picked) < wanted:
            draw = rng.random() * self._cumulative[-1]
            sku = self._skus[bisect.bisect_right(self._cumulative, draw)]
            if sku not in picked:
                picked.append(sku)
        return picked


def _line(rng, sku: Sku, customer: PlannedCustomer, line_number: int) -> PlannedLine:
    if customer.segment == Customer.Segment.WHOLESALE:
        low, high = WHOLESALE_QUANTITY[sku.department]
        quantity = rng.randint(low, high)
        percent = WHOLESALE_PRICE_PERCENT
    else:
        quantity = rng.choices(*CONSUMER_QUANTITY[sku.department])[0]
        percent = rng.choices(*PRICE_PERCENT)[0]
    return PlannedLine(
        line_number=line_number,
        product_id=sku.id,
        channel_line_id="",
        quantity=quantity,
        unit_price=cents_to_money(sku.price * percent // 100),
    )


def _serials(rng, serials: SerialNumbers, sku: Sku, quantity: int, placed_at: datetime):
    # Units leave stock a few weeks to a few months after they were made.
    made = placed_at.date()
    return [
        (serials.next(sku.code, made - timedelta(days=rng.randint(14, 180))), "", None, 1)
        for _ in range(quantity)
    ]


def _lots(rng, sku: Sku, quantity: int, placed_at: datetime):
    first = rng.randint(1, 5)  # months between manufacture and sale
    if quantity > 1 and rng.randrange(100) < LOT_SPLIT_PERCENT:
        older = rng.randint(1, quantity - 1)
        picks = [(first + 1, older), (first, quantity - older)]
    else:
        picks = [(first, quantity)]
    items = []
    for months_before, units in picks:
        month = placed_at.year * 12 + placed_at.month - 1 - months_before
        made = date(month // 12, month % 12 + 1, 1)
        expires = month + sku.shelf_life_months
        batch = "AB"[rng.randrange(2)]
        items.append(
            (
                "",
                f"{sku.code}{made:%y%m}{batch}",
                date(expires // 12, expires % 12 + 1, 1),
                units,
            )
        )
    return items


def _order_numbers(channel: Channel, rng: random.Random):
    """The channel's order ids in the shape its platform uses, increasing where it does."""
    if channel.platform == Channel.Platform.AMAZON:
        # Amazon order ids (3-7-7 digits) carry no sequence: random, and never twice.
        draw = UniqueDraw(
            lambda: "-".join(
                [f"11{rng.randint(1, 4)}", random_code(rng, DIGITS, 7), random_code(rng, DIGITS, 7)]
            )
        )
        while True:
            yield draw()
    # Shopify order ids and the EU marketplace's are large integers that only grow.
    number = 5_610_000_000_000 if channel.platform == Channel.Platform.SHOPIFY else 40_000_000
    while True:
        number += rng.randint(1_000, 900_000)
        yield str(number)


def _line_ids(channel: Channel, rng: random.Random):
    """A function (order number, line number) -> the channel's id for that line."""
    if channel.platform == Channel.Platform.SHOPIFY:
        # Shopify line item ids: one growing sequence across the shop.
        last = 13_900_000_000_000

        def shopify_line_id(_number: str, _line: int) -> str:
            nonlocal last
            last += rng.randint(1, 5_000)
            return str(last)

        return shopify_line_id
    if channel.platform == Channel.Platform.AMAZON:
        return lambda _number, _line: str(rng.randrange(10**13, 10**14))  # OrderItemId
    return lambda number, line: f"{number}-{line}"
