"""A small stock world: one warehouse with shelves and a quarantine cage, three SKUs (plain,
lot-tracked, serial-tracked) and two channels (storefront, outlet)."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission

from erp.models import Channel, Location, OrderLine, OutboxMessage, Product, SalesOrder, ShippedItem
from inventory.models import (
    ChannelAvailability,
    ChannelRule,
    InventoryUnit,
    StockBalance,
    StockMovement,
    StockState,
)
from tests.factories import (
    ChannelFactory,
    LocationFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    UserFactory,
    WarehouseFactory,
)


@dataclass
class StockWorld:
    shelf_a: Location
    shelf_b: Location
    cage: Location
    plain: Product
    lotted: Product
    serialized: Product
    storefront: Channel
    outlet: Channel
    order: SalesOrder

    def order_line(self, product: Product, quantity: int) -> OrderLine:
        """A new line of the world's one storefront order (no new channel per line)."""
        return OrderLineFactory(order=self.order, product=product, quantity=quantity)


def make_world() -> StockWorld:
    warehouse = WarehouseFactory(code="main")
    outlet = ChannelFactory(code="outlet", name="Outlet")
    rule = ChannelRule.objects.create(
        channel=outlet, sellable_states=[StockState.AVAILABLE, StockState.REFURBISH]
    )
    rule.warehouses.set([warehouse])
    storefront = ChannelFactory(code="store", name="Storefront")
    return StockWorld(
        shelf_a=LocationFactory(warehouse=warehouse, code="A-01"),
        shelf_b=LocationFactory(warehouse=warehouse, code="B-01"),
        cage=LocationFactory(warehouse=warehouse, code="Q-01", kind=Location.Kind.QUARANTINE),
        plain=ProductFactory(sku="PLAIN"),
        lotted=ProductFactory(sku="LOTTED", tracking=Product.Tracking.LOT),
        serialized=ProductFactory(sku="SERIAL", tracking=Product.Tracking.SERIAL),
        storefront=storefront,
        outlet=outlet,
        order=SalesOrderFactory(channel=storefront),
    )


@pytest.fixture
def world(db) -> StockWorld:
    return make_world()


@pytest.fixture
def stock_manager(db):
    """Someone who may adjust stock and release quarantine (the operations manager's grants)."""
    user = UserFactory(username="stock_manager")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="inventory",
            codename__in=["adjust_stock", "release_quarantine"],
        )
    )
    return user


def ledger_counts() -> dict[str, int]:
    """How many rows every table a stock service may write holds: "nothing written" checks."""
    return {
        "movements": StockMovement.objects.count(),
        "balances": StockBalance.objects.count(),
        "balance_total": sum(StockBalance.objects.values_list("qty", flat=True)),
        "units": InventoryUnit.objects.count(),
        "unit_history": InventoryUnit.history.count(),
        "availability": ChannelAvailability.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "shipped_items": ShippedItem.objects.count(),
    }


def balance(product: Product, location: Location, state: str, lot: str = "") -> int:
    row = StockBalance.objects.filter(
        product=product, location=location, state=state, lot=lot
    ).first()
    return row.qty if row else 0


def ats(product: Product, channel: Channel) -> int:
    row = ChannelAvailability.objects.filter(product=product, channel=channel).first()
    return row.ats if row else 0
