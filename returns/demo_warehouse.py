"""Demo warehouse work for `manage.py seed_demo`: some of the demo's parcels in transit or
delivered to our own warehouses are received, inspected and dispositioned through
`returns.workflow` by the demo users, so the tablet screens (queue, units, quarantine,
put-away) show real data; and clearing it again.

Runs after the returns demo, at moments in the demo's past (`erp.demo.clock`).
"""

import random
from datetime import datetime, timedelta

import pgtrigger
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection

from erp.demo.clock import clock_at
from erp.models import ExceptionCase, Product, ShippedItem, Warehouse
from erp.models.exceptions import SubjectType
from inventory.demo import APPEND_ONLY_TRIGGER, DemoStockResetRefused
from inventory.models import StockMovement
from warehouse.models import (
    Disposition,
    Inspection,
    InspectionPhoto,
    PutawayTask,
    QuarantineRecord,
    Receipt,
    ReturnUnit,
)
from warehouse.services import checklist_for

from . import workflow
from .models import ReturnCase

PARCELS = 30
KEY_PREFIX = "warehouse:"
GRADES = ["A", "A", "A", "B", "B", "C", "D", "E", "F"]
State = ReturnCase.State


def demo_warehouse_seed(*, rng: random.Random, as_of: datetime) -> dict[str, int]:
    """Effects: receives up to PARCELS demo cases in transit or delivered to an own warehouse
    (none with a high-value serial item: those would open fraud reviews the returns demo
    accounts for itself); of the cases without an exception yet, one in ten comes without its
    original packaging and one in ten holds a wrong item. Inspects most units with a random
    grade and dispositions most of those with the rules' suggestion, as the demo user
    `warehouse`. Returns counts."""
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["warehouse", "ops"])
    }
    cases = list(
        ReturnCase.objects.filter(
            state__in=[State.IN_TRANSIT, State.DELIVERED],
            expected_warehouse__operator=Warehouse.Operator.OWN,
        )
        .select_related("order")
        .prefetch_related("lines__order_line__product")
        .order_by("shipped_at", "pk")[:PARCELS]
    )
    decoy = Product.objects.filter(gtin__isnull=False, tracking=Product.Tracking.NONE).first()
    with_exceptions = set(
        ExceptionCase.objects.filter(subject_type=SubjectType.RETURN_CASE).values_list(
            "subject_id", flat=True
        )
    )
    received = 0
    for case in cases:
        scans = _scans(case)
        if scans is None:
            continue
        packaging_ok, draw = True, rng.random()
        if str(case.pk) not in with_exceptions and draw < 0.2:
            # One problem per case: the exception queue shows one row per parcel.
            if draw < 0.1 and decoy is not None:
                scans = [decoy.gtin]
            else:
                packaging_ok = False
        moment = min(
            as_of - timedelta(hours=1), case.shipped_at + timedelta(days=rng.uniform(2, 5))
        )
        try:
            with clock_at(moment):
                receipt = workflow.return_parcel_receive(
                    case_id=case.pk,
                    warehouse_id=case.expected_warehouse_id,
                    scans=scans,
                    packaging_ok=packaging_ok,
                    client_token=f"demo-receipt-{case.pk}",
                    actor=users["warehouse"],
                )
        except ValidationError:
            continue
        received += 1
        for unit in receipt.units.select_related("product__category"):
            if unit.product_id is None or rng.random() < 0.25:
                continue
            moment += timedelta(minutes=rng.uniform(10, 240))
            _inspect_and_decide(rng, unit, moment, users)
    return {
        "parcels received": received,
        "  units": ReturnUnit.objects.count(),
        "  inspected": Inspection.objects.count(),
        "  dispositioned": Disposition.objects.count(),
        "  in quarantine": QuarantineRecord.objects.filter(state="held").count(),
    }


def _scans(case: ReturnCase) -> list[str] | None:
    """What the bench scans for the case's lines: each unit's GTIN, a serial-tracked unit's
    serial after it, a lot-tracked unit as a GS1 DataMatrix carrying its lot."""
    scans = []
    for line in case.lines.all():
        product = line.order_line.product
        if not product.gtin or product.is_high_value:
            return None
        shipped = list(ShippedItem.objects.filter(line_id=line.order_line_id).order_by("pk"))
        for index in range(line.quantity):
            if product.tracking == Product.Tracking.SERIAL:
                if index >= len(shipped):
                    return None
                scans += [product.gtin, shipped[index].serial_number]
            elif product.tracking == Product.Tracking.LOT:
                if not shipped:
                    return None
                scans.append(f"]d201{product.gtin}10{shipped[0].lot_number}")
            else:
                scans.append(product.gtin)
    return scans


def _inspect_and_decide(rng: random.Random, unit: ReturnUnit, moment: datetime, users) -> None:
    template = checklist_for(unit)
    answers = {
        item["key"]: {
            "yes_no": rng.random() < 0.8,
            "date": "2027-06-30",
            "text": unit.lot or "n/a",
        }[item["kind"]]
        for item in template.items
    }
    if "serial_matches" in answers:
        answers["serial_matches"] = True
    try:
        with clock_at(moment):
            workflow.return_unit_inspect(
                unit_id=unit.pk,
                answers=answers,
                grade=rng.choice(GRADES),
                notes="Demo inspection.",
                client_token=f"demo-inspection-{unit.pk}",
                actor=users["warehouse"],
            )
        if unit.is_quarantined or rng.random() < 0.2:
            return
        with clock_at(moment + timedelta(minutes=5)):
            workflow.return_unit_disposition(
                unit_id=unit.pk,
                client_token=f"demo-disposition-{unit.pk}",
                actor=users["warehouse"],
            )
    except ValidationError:
        return


def demo_warehouse_reset() -> dict[str, int]:
    """Effects: deletes the warehouse's receipts, units, inspections, decisions, put-away
    tasks and quarantine records (and their history), and the stock movements they posted;
    returns rows deleted per table. Call inside a transaction, before the returns and stock
    resets (they refuse or fail while these point at cases and movements)."""
    models = [
        InspectionPhoto,
        PutawayTask.history.model,
        PutawayTask,
        QuarantineRecord.history.model,
        QuarantineRecord,
        Disposition.history.model,
        Disposition,
        Inspection.history.model,
        Inspection,
        ReturnUnit.history.model,
        ReturnUnit,
        Receipt.history.model,
        Receipt,
    ]
    deleted = {}
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
            deleted[str(model._meta.verbose_name_plural)] = cursor.rowcount
    movements = StockMovement.objects.filter(idempotency_key__startswith=KEY_PREFIX)
    if connection.vendor != "postgresql":
        if movements.exists():
            # As the stock reset says: here the ledger is append-only for good.
            raise DemoStockResetRefused(
                "the stock ledger is append-only and this database (SQLite) will not bypass "
                "that; delete var/ and run `make run` again to start over"
            )
        return deleted
    with pgtrigger.ignore(APPEND_ONLY_TRIGGER):
        deleted["warehouse stock movements"] = movements._raw_delete(movements.db)
    return deleted
