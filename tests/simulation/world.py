"""The small business the fault simulation runs: one returns warehouse, three products (plain,
serial-tracked, lot-tracked) with opening stock, a policy that authorizes and refunds on
inspection, one person per role, a carrier account and a payment provider on 127.0.0.1."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone

from erp.models import IntegrationCredential, Location, Product, ShippedItem
from erp.roles import Role
from inventory.services import stock_receive
from tests.factories import (
    ChannelFactory,
    CustomerFactory,
    OrderLineFactory,
    SalesOrderFactory,
    UserFactory,
)
from tests.factories.finance import refund_policy
from tests.factories.warehouse import product_in, returns_warehouse
from tests.integrations.conftest import easypost_body, easypost_signature

CARRIER_SECRET = "sim-carrier-secret"


def person(username: str, role: Role):
    user = UserFactory(username=username, is_staff=role == Role.ADMINISTRATOR)
    user.groups.set(Group.objects.filter(name=role))
    return user


@dataclass
class World:
    warehouse: object
    products: dict[str, Product]
    agent: object
    packer: object
    manager: object
    clerk: object
    channels: list = field(default_factory=list)
    customers: list = field(default_factory=list)
    stock: Location = None
    spot: dict = field(default_factory=dict)


def build_world() -> World:
    refund_policy(trigger="on_inspection")
    warehouse = returns_warehouse(code="SIM")
    products = {
        "plain": product_in("apparel", sku="SIM-TEE", list_price="30.00", unit_cost="12.00"),
        "serial": product_in(
            "electronics",
            sku="SIM-PHONE",
            list_price="180.00",
            unit_cost="90.00",
            tracking=Product.Tracking.SERIAL,
        ),
        "lot": product_in(
            "health_beauty",
            sku="SIM-CREAM",
            list_price="14.00",
            unit_cost="4.00",
            tracking=Product.Tracking.LOT,
        ),
    }
    IntegrationCredential.objects.create(source="easypost", account="main", secret=CARRIER_SECRET)
    world = World(
        warehouse=warehouse,
        products=products,
        agent=person("sim-agent", Role.CUSTOMER_SERVICE),
        packer=person("sim-packer", Role.WAREHOUSE),
        manager=person("sim-manager", Role.OPERATIONS_MANAGER),
        clerk=person("sim-clerk", Role.FINANCE),
        # A fixed few channels and customers: ATS is kept per channel, so a channel per order
        # would multiply every stock change's availability messages by the orders so far.
        channels=[ChannelFactory(kind="storefront"), ChannelFactory(kind="marketplace")],
        customers=[CustomerFactory() for _ in range(8)],
        stock=warehouse.spot[Location.Kind.STOCK],
        spot=warehouse.spot,
    )
    stock_receive(
        product_id=products["plain"].pk, location_id=world.stock.pk, qty=40, idempotency_key="o-1"
    )
    stock_receive(
        product_id=products["lot"].pk,
        location_id=world.stock.pk,
        qty=40,
        lot="L-OPEN",
        idempotency_key="o-2",
    )
    stock_receive(
        product_id=products["serial"].pk,
        location_id=world.stock.pk,
        qty=6,
        serials=[f"SN-OPEN-{n}" for n in range(6)],
        idempotency_key="o-3",
    )
    return world


def delivered_order(world: World, rng, product: Product, quantity: int, price: str, shipped):
    """An order of one line delivered four days ago from the world's warehouse; `shipped` are
    the serials (serial-tracked) or lots (lot-tracked) that went out."""
    delivered = timezone.now() - timedelta(days=4)
    order = SalesOrderFactory(
        channel=rng.choice(world.channels),
        customer=rng.choice(world.customers),
        ship_from=world.warehouse,
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
    )
    line = OrderLineFactory(
        order=order, line_number=1, product=product, quantity=quantity, unit_price=Decimal(price)
    )
    for value in shipped:
        if product.tracking == Product.Tracking.SERIAL:
            ShippedItem.objects.create(line=line, serial_number=value)
        else:
            ShippedItem.objects.create(line=line, lot_number=value, quantity=quantity)
    return order


def easypost_webhook(*, event_id: str, tracking: str, status: str, at: str) -> tuple[bytes, dict]:
    """An EasyPost tracker.updated event and the headers EasyPost signs it with."""
    body = easypost_body(event_id=event_id, status=status, at=at, tracking=tracking)
    return body, {"HTTP_X_HMAC_SIGNATURE": easypost_signature(CARRIER_SECRET, body)}


def money(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))
