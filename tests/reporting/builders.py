"""Hand-built orders and return cases for the KPI tests: rows with exactly the timestamps a
test states (the returns services stamp `now`, which a KPI over a window cannot use)."""

from datetime import datetime, timedelta
from decimal import Decimal

from erp.models import ReasonCode
from returns.models import ReturnLine
from tests.factories import OrderLineFactory, ReturnCaseFactory, SalesOrderFactory


def shipped_line(
    *, product, qty: int, shipped_at: datetime, channel=None, ship_from=None, price="30.00"
):
    """An order line of `qty` units of `product`, shipped at `shipped_at`."""
    order_kwargs = {"placed_at": shipped_at - timedelta(days=1), "shipped_at": shipped_at}
    order_kwargs["delivered_at"] = shipped_at + timedelta(days=2)
    if channel is not None:
        order_kwargs["channel"] = channel
    if ship_from is not None:
        order_kwargs["ship_from"] = ship_from
    order = SalesOrderFactory(**order_kwargs)
    return OrderLineFactory(order=order, product=product, quantity=qty, unit_price=Decimal(price))


def return_case(
    *, line, qty: int = 1, reason: str = "DEFECTIVE_OR_DAMAGED", state="closed", **stamps
):
    """A case returning `qty` units of `line`, in `state`, with the timestamps given."""
    case = ReturnCaseFactory(order=line.order, state=state, **stamps)
    ReturnLine.objects.create(
        case=case,
        order_line=line,
        quantity=qty,
        reason=ReasonCode.objects.get(code=reason),
        claimed_condition="opened_unused",
        unit_price=line.unit_price,
        rule=case.deciding_rule,
    )
    return case


def lifelike_history(*, days: int = 30, seed: int = 7):
    """A month of a small shop for the dashboards' screenshots: two channels, two warehouses,
    six SKUs in two categories, shipments and returns every day with mixed reasons and states,
    exceptions of several kinds and restocked or quarantined units; then the daily snapshots."""
    import random
    from itertools import count

    from django.utils import timezone

    from erp.models.exceptions import ExceptionKind
    from inventory import services as stock
    from inventory.models import StockState
    from reporting.snapshots import forecast_snapshot_build, kpi_snapshots_backfill
    from tests.factories import (
        CategoryFactory,
        ChannelFactory,
        ExceptionCaseFactory,
        LocationFactory,
        ProductFactory,
        WarehouseFactory,
    )

    rng = random.Random(seed)
    keys = count()
    now = timezone.now()
    channels = [
        ChannelFactory(code="store-us", name="Storefront US"),
        ChannelFactory(code="amazon-us", name="Amazon US", kind="marketplace"),
    ]
    warehouses = [WarehouseFactory(name="Reno returns center"), WarehouseFactory(name="Newark DC")]
    locations = {w.pk: LocationFactory(warehouse=w) for w in warehouses}
    tops = CategoryFactory(code="tops", name="Tops")
    phones = CategoryFactory(code="phones", name="Phones", department="electronics")
    products = [
        ProductFactory(sku=sku, name=name, category=category)
        for sku, name, category in [
            ("TEE-NAVY-M", "Merino tee, navy, M", tops),
            ("TEE-NAVY-L", "Merino tee, navy, L", tops),
            ("HOOD-GRY-L", "Loopback hoodie, grey, L", tops),
            ("PH-AUR-128", "Aurora X2 128 GB", phones),
            ("PH-CASE-X2", "Aurora X2 case", phones),
            ("BUDS-PRO", "Wireless earbuds", phones),
        ]
    ]
    reasons = [
        "SIZE_TOO_SMALL",
        "SIZE_TOO_LARGE",
        "DEFECTIVE_OR_DAMAGED",
        "NOT_AS_DESCRIBED",
        "WRONG_ITEM_SENT",
        "CHANGED_MIND",
    ]
    kinds = [
        ExceptionKind.SKU_MISMATCH,
        ExceptionKind.MISSING_COMPONENTS,
        ExceptionKind.FRAUD_REVIEW,
        ExceptionKind.LATE_3PL_DISPOSITION,
    ]
    hour = timedelta(hours=1)
    for back in range(days, 0, -1):
        day = now - timedelta(days=back)
        for _ in range(rng.randint(2, 4)):
            product, channel, warehouse = (
                rng.choice(products),
                rng.choice(channels),
                rng.choice(warehouses),
            )
            line = shipped_line(
                product=product,
                qty=rng.randint(2, 6),
                shipped_at=day - 6 * 24 * hour,
                channel=channel,
                ship_from=warehouse,
            )
            start = day - timedelta(hours=rng.randint(60, 200))
            stages = {
                "requested_at": start,
                "authorized_at": start + rng.randint(1, 30) * hour,
                "shipped_at": start + rng.randint(30, 60) * hour,
                "delivered_at": start + rng.randint(70, 120) * hour,
                "received_at": start + rng.randint(121, 140) * hour,
                "inspected_at": start + rng.randint(141, 170) * hour,
                "closed_at": start + rng.randint(171, 220) * hour,
            }
            state = "closed"
            if stages["closed_at"] > now:
                state, stages = (
                    "in_transit",
                    {k: stages[k] for k in ("requested_at", "authorized_at", "shipped_at")},
                )
            return_case(
                line=line,
                qty=1,
                reason=rng.choice(reasons),
                state=state,
                expected_warehouse=warehouse,
                **_risk(rng.randint(0, 60)),
                **stages,
            )
        if rng.random() < 0.6:
            opened = day + rng.randint(0, 20) * hour
            ExceptionCaseFactory(kind=rng.choice(kinds), opened_at=opened)
        product, warehouse = rng.choice(products), rng.choice(warehouses)
        stock.stock_receive(
            product_id=product.pk,
            location_id=locations[warehouse.pk].pk,
            qty=2,
            to_state=StockState.RECEIVED_PENDING_INSPECTION,
            idempotency_key=f"hist-{next(keys)}",
            occurred_at=day,
        )
        stock.stock_move(
            product_id=product.pk,
            qty=2,
            from_location_id=locations[warehouse.pk].pk,
            from_state=StockState.RECEIVED_PENDING_INSPECTION,
            to_location_id=locations[warehouse.pk].pk,
            to_state=rng.choice([StockState.AVAILABLE, StockState.QUARANTINED]),
            idempotency_key=f"hist-{next(keys)}",
            occurred_at=day + rng.randint(2, 40) * hour,
        )
    for warehouse in warehouses:  # open returns waiting for authorization and receipt
        line = shipped_line(
            product=products[0],
            qty=2,
            shipped_at=now - 10 * 24 * hour,
            channel=channels[0],
            ship_from=warehouse,
        )
        return_case(
            line=line,
            state="pending_review",
            expected_warehouse=warehouse,
            **_risk(55),
            requested_at=now - 5 * hour,
            risk_signals=[
                {"code": "watchlist", "points": 30, "detail": "The customer is on the watchlist."}
            ],
        )
    kpi_snapshots_backfill(through=now.date(), days=days)
    forecast_snapshot_build()
    return {"channels": channels, "warehouses": warehouses}


def _risk(score: int) -> dict:
    level = "high" if score >= 50 else "medium" if score >= 25 else "low"
    return {"risk_score": score, "risk_level": level}
