"""Return cases brought to the point where finance refunds them, through the real returns and
warehouse workflow: authorized by policy, shipped, received, inspected and dispositioned."""

import itertools
from decimal import Decimal

from erp.models import Location, Product
from finance.models import Refund
from inventory.services import stock_receive
from returns import workflow
from returns.models import ReturnCase
from returns.services import LineRequest, return_case_create, return_case_ship
from tests.factories.finance import refund_policy
from tests.factories.warehouse import product_in, returns_warehouse, shipped_order

_tokens = itertools.count(1)

APPAREL_ANSWERS = {"tags_attached": True, "worn_or_washed": False, "stains": False, "odour": False}


def token(prefix: str = "t") -> str:
    return f"{prefix}-{next(_tokens)}"


def shirt(price: str = "30.00", sku: str | None = None) -> Product:
    return product_in(
        "apparel", sku=sku or f"TEE-{next(_tokens)}", list_price=price, unit_cost="12.00"
    )


def open_case(
    agent,
    *,
    quantity: int = 2,
    price: str = "30.00",
    trigger: str = "on_inspection",
    fee: str = "0",
    shipping: str = "merchant",
    resolution: str = "refund",
    reason: str = "SIZE_TOO_SMALL",
    warehouse=None,
) -> ReturnCase:
    """A case authorized by a policy refunding at `trigger`, for `quantity` units of one
    apparel line at `price`."""
    refund_policy(trigger=trigger, restocking_fee_percent=fee, return_shipping_paid_by=shipping)
    product = shirt(price)
    warehouse = warehouse or returns_warehouse()
    if resolution == "exchange":
        # The replacement is reserved from stock when the case is authorized.
        stock_receive(
            product_id=product.pk,
            location_id=warehouse.spot[Location.Kind.STOCK].pk,
            qty=quantity,
            idempotency_key=token("stock"),
        )
    order = shipped_order((product, quantity, price, ["LOT-1"]), warehouse=warehouse)
    line = order.lines.get()
    case = return_case_create(
        order_id=order.pk,
        requests=[
            LineRequest(
                order_line_id=line.pk,
                quantity=quantity,
                reason_code=reason,
                claimed_condition="opened_unused",
            )
        ],
        resolution=resolution,
        actor=agent,
    )
    assert case.state == ReturnCase.State.AUTHORIZED, case.get_state_display()
    return case


def ship(case: ReturnCase, agent) -> ReturnCase:
    return return_case_ship(
        case_id=case.pk, actor=agent, carrier="UPS", tracking_number=f"1Z{case.pk:016d}"
    )


def receive(case: ReturnCase, receiver, *, units: int | None = None, extra_scans=()):
    """Receive `units` of the case's line (all by default) plus `extra_scans` (codes)."""
    line = case.lines.select_related("order_line__product").get()
    product = line.order_line.product
    count = line.quantity if units is None else units
    warehouse_id = case.expected_warehouse_id
    return workflow.return_parcel_receive(
        case_id=case.pk,
        warehouse_id=warehouse_id,
        scans=[product.gtin] * count + list(extra_scans),
        packaging_ok=True,
        client_token=token("receipt"),
        actor=receiver,
    )


def inspect_all(case: ReturnCase, inspector, grades=("A",)):
    """Inspect every received unit of the case (grades in turn) and accept the suggested
    disposition of each."""
    from warehouse.models import ReturnUnit

    units = list(ReturnUnit.objects.filter(case=case).order_by("pk"))
    for unit, grade in zip(units, itertools.cycle(grades), strict=False):
        workflow.return_unit_inspect(
            unit_id=unit.pk,
            answers=APPAREL_ANSWERS,
            grade=grade,
            client_token=token("inspection"),
            actor=inspector,
        )
    for unit in units:
        workflow.return_unit_disposition(
            unit_id=unit.pk, client_token=token("disposition"), actor=inspector
        )


def refund_of(case: ReturnCase) -> Refund | None:
    return Refund.objects.filter(case=case).order_by("pk").last()


def money(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))
