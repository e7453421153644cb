"""Hand-built orders and return cases for the KPI tests: rows with exactly the timestamps a
test states (the returns services stamp `now`, which a KPI over a window cannot use)."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from erp.models import ReasonCode
from finance.models import Refund, RefundLine
from returns.models import ReturnLine
from tests.factories import OrderLineFactory, ReturnCaseFactory, SalesOrderFactory
from warehouse.models import ChecklistTemplate, Disposition, Inspection, Receipt, ReturnUnit


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


_keys = itertools.count()
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def next_key() -> int:
    return next(_keys)


def units_of(case, *, grades: list[str], warehouse, user, at=T0):
    """Receive one unit per grade on the case's only line; inspect each with that grade
    (an empty grade: received, not inspected)."""
    line = case.lines.get()
    receipt = Receipt.objects.create(
        warehouse=warehouse,
        case=case,
        client_token=f"r-{next_key()}",
        packaging_ok=True,
        received_by=user,
        received_at=at - 10 * H,
    )
    template = ChecklistTemplate.objects.first()
    units = []
    for n, grade in enumerate(grades):
        unit = ReturnUnit.objects.create(
            receipt=receipt,
            case=case,
            return_line=line,
            product=line.order_line.product,
            scanned_code="x",
            match="matched",
            received_by=user,
            received_at=at - 10 * H + n * timedelta(minutes=1),
        )
        if grade:
            Inspection.objects.create(
                unit=unit,
                template=template,
                grade=grade,
                answers={},
                inspector=user,
                inspected_at=at,
                client_token=f"i-{next_key()}",
            )
        units.append(unit)
    return units


def refund(case, *, proposed, issued, deduction="0.00", qty=1, stage="on_inspection", **fields):
    """An issued refund of `qty` units of the case's only line, at its unit price."""
    line = case.lines.get()
    gross = line.unit_price * qty
    deduction = Decimal(deduction)
    key = next_key()
    made = Refund.objects.create(
        case=case,
        channel=case.channel,
        customer=case.customer,
        stage=stage,
        method="original_payment",
        currency="USD",
        gross_amount=gross,
        deductions_amount=deduction,
        amount=gross - deduction,
        dedupe_key=f"d-{key}",
        idempotency_key=f"k-{key}",
        proposed_at=proposed,
        issued_at=issued,
        state=fields.pop("state", "issued"),
        **fields,
    )
    RefundLine.objects.create(
        refund=made,
        return_line=line,
        quantity=qty,
        unit_price=line.unit_price,
        gross_amount=gross,
        grade_deduction=deduction,
        amount=gross - deduction,
        released=made.state == "rejected",
    )
    return made


def dispose(unit, outcome, *, expected, at, user, currency="USD"):
    return Disposition.objects.create(
        unit=unit,
        suggested_outcome=outcome,
        outcome=outcome,
        explanation="test",
        expected_recovery=None if expected is None else Decimal(expected),
        recovery_basis="none",
        currency=currency,
        decided_by=user,
        decided_at=at,
        client_token=f"disp-{next_key()}",
    )


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
    from reporting.snapshots import (
        forecast_snapshot_build,
        kpi_snapshots_backfill,
        pipeline_snapshot_build,
    )
    from tests.factories import (
        CategoryFactory,
        ChannelFactory,
        ExceptionCaseFactory,
        LocationFactory,
        ProductFactory,
        UserFactory,
        WarehouseFactory,
    )
    from tests.factories.finance import FiscalPeriodFactory

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
    clerk = UserFactory(username="history-clerk")
    FiscalPeriodFactory(start_date=now.date().replace(day=1))
    previous = (now.date().replace(day=1) - timedelta(days=1)).replace(day=1)
    FiscalPeriodFactory(start_date=previous)
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
            case = return_case(
                line=line,
                qty=1,
                reason=rng.choice(reasons),
                state=state,
                expected_warehouse=warehouse,
                **_risk(rng.randint(0, 60)),
                **stages,
            )
            if state == "closed":
                _processed(case, rng, warehouse=warehouse, user=clerk, now=now)
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
    _reconciliation(rng, products, warehouses, now=now, days=days)
    kpi_snapshots_backfill(through=now.date(), days=days)
    forecast_snapshot_build()
    pipeline_snapshot_build()
    return {"channels": channels, "warehouses": warehouses}


OUTCOMES = [("restock", 0.9), ("refurbish", 0.6), ("vendor_return", 0.5), ("liquidation", 0.2)]


def _processed(case, rng, *, warehouse, user, now) -> None:
    """The case's unit received, inspected, dispositioned and refunded: mostly with the right
    condition deduction, now and then a wrong one; some liquidation proceeds realized."""
    from finance.amounts import grade_deduction
    from finance.models import RealizedRecovery
    from tests.factories.finance import posted_entry

    grade = rng.choice("AAABBCD")
    line = case.lines.select_related("reason").get()
    (unit,) = units_of(case, grades=[grade], warehouse=warehouse, user=user, at=case.inspected_at)
    outcome, share = rng.choice(OUTCOMES)
    disposition = dispose(
        unit,
        outcome,
        expected=str((line.unit_price * Decimal(str(share))).quantize(Decimal("0.01"))),
        at=case.inspected_at + timedelta(hours=1),
        user=user,
    )
    if outcome == "liquidation" and rng.random() < 0.7:
        amount = str((line.unit_price * Decimal("0.25")).quantize(Decimal("0.01")))
        RealizedRecovery.objects.create(
            disposition=disposition,
            kind="liquidation_sale",
            amount=Decimal(amount),
            currency="USD",
            reference=f"LQ-{next_key()}",
            occurred_on=case.inspected_at.date(),
            journal_entry=posted_entry(amount=amount, occurred_at=case.inspected_at),
            recorded_by=user,
            client_token=f"rec-{next_key()}",
        )
    issued = case.inspected_at + timedelta(hours=rng.randint(2, 70))
    if issued >= now:
        return
    fault = line.reason.group not in ("defect", "not_as_described", "fulfilment_error", "logistics")
    right = grade_deduction(unit_price=line.unit_price, grade=grade) if fault else Decimal("0")
    wrong = rng.random() < 0.08
    refund(
        case,
        proposed=case.inspected_at + timedelta(minutes=rng.randint(5, 90)),
        issued=issued,
        deduction=str(Decimal("0") if wrong and right else right),
    )


def _reconciliation(rng, products, warehouses, *, now, days) -> None:
    """Current variances for two sources and a trend point per source and day."""
    from inventory.models import ReconciliationRun, ReconciliationVariance, VarianceTrendPoint

    for source, warehouse in (("shiphero", warehouses[0]), ("amazon_fba", warehouses[1])):
        for product in products[:4]:
            # explained and unexplained have the difference's sign (inventory's rule)
            sign = rng.choice([-1, 1])
            explained = sign * rng.randint(0, 4)
            unexplained = sign * rng.choice([0, 0, rng.randint(1, 3)])
            cost = Decimal(rng.choice(["6.50", "12.00", "180.00"]))
            ReconciliationVariance.objects.create(
                source=source,
                bucket="sellable",
                product=product,
                scope_id=warehouse.pk,
                warehouse=warehouse,
                taken_at=now,
                erp_qty=50,
                external_qty=50 + explained + unexplained,
                difference=explained + unexplained,
                explained=explained,
                unexplained=unexplained,
                unit_cost=cost,
                unexplained_value=abs(unexplained) * cost,
                status="over_tolerance" if abs(unexplained) > 2 else "explained",
                computed_at=now,
            )
    run = ReconciliationRun.objects.create(kind="full")
    for back in range(days, -1, -1):
        for source in ("shiphero", "amazon_fba"):
            unexplained = rng.randint(0, 12)
            VarianceTrendPoint.objects.create(
                source=source,
                run=run,
                at=now - timedelta(days=back),
                variance_units=unexplained + rng.randint(0, 15),
                unexplained_units=unexplained,
            )


def _risk(score: int) -> dict:
    level = "high" if score >= 50 else "medium" if score >= 25 else "low"
    return {"risk_score": score, "risk_level": level}
