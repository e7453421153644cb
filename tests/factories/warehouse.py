"""A warehouse with one location of every kind, and return cases brought to the bench the way
real ones get there (returns.services): created, authorized, shipped by the customer."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from erp.models import ExceptionCase, Location, Product, ShippedItem
from erp.models.exceptions import ACTIVE_STATES
from erp.services import exception_resolve
from returns import services as returns
from returns.models import ReturnCase
from returns.services import LineRequest

from .master_data import (
    CategoryFactory,
    ChannelFactory,
    CustomerFactory,
    LocationFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    WarehouseFactory,
)

KIND_CODES = {
    Location.Kind.RECEIVING: "DOCK",
    Location.Kind.INSPECTION: "BENCH",
    Location.Kind.QUARANTINE: "CAGE",
    Location.Kind.STOCK: "A-01",
    Location.Kind.REFURBISHMENT: "REFURB",
    Location.Kind.VENDOR_RETURN: "RTV",
    Location.Kind.LIQUIDATION: "LIQ",
    Location.Kind.DISPOSAL: "SCRAP",
}


def returns_warehouse(**fields):
    """A warehouse with one location of every kind; `warehouse.spot[kind]` is that location."""
    warehouse = WarehouseFactory(**fields)
    warehouse.spot = {
        kind: LocationFactory(warehouse=warehouse, code=code, kind=kind)
        for kind, code in KIND_CODES.items()
    }
    return warehouse


def product_in(department: str, **fields) -> Product:
    category = CategoryFactory(code=f"cat-{department}", name=department, department=department)
    return ProductFactory(category=category, **fields)


def shipped_order(*lines, channel_kind: str = "storefront", warehouse=None, days_ago: int = 4):
    """An order delivered `days_ago` days ago. Each line is (product, quantity, unit price,
    serials or lots shipped): serial-tracked products list their serials, lot-tracked their
    lots."""
    delivered = timezone.now() - timedelta(days=days_ago)
    order = SalesOrderFactory(
        channel=ChannelFactory(kind=channel_kind),
        customer=CustomerFactory(),
        ship_from=warehouse,
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
    )
    for number, (product, quantity, price, shipped) in enumerate(lines, start=1):
        line = OrderLineFactory(
            order=order,
            line_number=number,
            product=product,
            quantity=quantity,
            unit_price=Decimal(price),
        )
        for value in shipped:
            if product.tracking == Product.Tracking.SERIAL:
                ShippedItem.objects.create(line=line, serial_number=value)
            else:
                ShippedItem.objects.create(line=line, lot_number=value, quantity=quantity)
    return order


def case_in_transit(order, *, agent, manager, reason="SIZE_TOO_SMALL", quantities=None):
    """Open a case for every line of `order` (all units, or `quantities`), get it authorized
    (a manager clears a fraud review the risk screening opened) and shipped by the customer."""
    lines = list(order.lines.order_by("line_number"))
    requests = [
        LineRequest(
            order_line_id=line.pk,
            quantity=(quantities or {}).get(line.line_number, line.quantity),
            reason_code=reason,
            claimed_condition="opened_unused",
        )
        for line in lines
    ]
    case = returns.return_case_create(
        order_id=order.pk, requests=requests, resolution="refund", actor=agent
    )
    if case.state == ReturnCase.State.PENDING_REVIEW:
        for exception in _open_exceptions(case):
            exception_resolve(exception_id=exception.pk, actor=manager, reason="Checked: genuine")
        case = returns.return_case_authorize(case_id=case.pk, actor=manager)
    return returns.return_case_ship(
        case_id=case.pk, actor=agent, carrier="UPS", tracking_number=f"1Z{case.pk:016d}"
    )


def _open_exceptions(case):
    return ExceptionCase.objects.filter(
        subject_type="return_case", subject_id=str(case.pk), state__in=ACTIVE_STATES
    )


def gs1(product: Product, *, serial: str = "", lot: str = "", expiry: str = "") -> str:
    """A GS1 DataMatrix as the scanner sends it: ]d2, (01), (17), (10) and (21) with GS."""
    text = f"]d201{product.gtin}"
    if expiry:
        text += f"17{expiry}"
    if lot:
        text += f"10{lot}" + ("\x1d" if serial else "")
    if serial:
        text += f"21{serial}"
    return text
