"""Receiving a return parcel at the bench: match what was scanned against what the case
expects, post the stock through inventory, quarantine and report what did not match.

Stock comes in at the receipt in two steps — outside → in_transit_return, then
in_transit_return → received_pending_inspection at the receiving location — so the ledger
shows the canonical flow even though nothing posted the parcel while it travelled (a case's
carrier milestones do not touch stock: a return that never arrives never reaches our books).
A mismatched unit then moves on to the quarantine location as quarantined.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from erp.models import Location, Product, SalesOrder
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open
from inventory import services as inventory
from inventory.models import OUTSIDE, CauseType, InventoryUnit, StockState

from ..models import MatchResult, MismatchKind, QuarantineRecord, Receipt, ReturnUnit
from ..scan import ScanKind, ScanResult
from ._support import location_of_kind, require_perm, save

RECEIVE_PERMISSION = "warehouse.receive_parcel"
S = StockState
M = MismatchKind
EXCEPTION_KIND = {
    M.WRONG_SKU: ExceptionKind.SKU_MISMATCH,
    M.UNKNOWN_ITEM: ExceptionKind.SKU_MISMATCH,
    M.EXTRA_ITEM: ExceptionKind.SKU_MISMATCH,
    M.LOT_MISMATCH: ExceptionKind.SKU_MISMATCH,
    M.FOREIGN_SERIAL: ExceptionKind.SERIAL_MISMATCH,
    M.PACKAGING_MISSING: ExceptionKind.PACKAGING_MISSING,
    M.MISSING_COMPONENTS: ExceptionKind.MISSING_COMPONENTS,
    # No kind of its own: what came back is short of what the case claims, like a bundle.
    M.MISSING_ITEMS: ExceptionKind.MISSING_COMPONENTS,
}


@dataclass(frozen=True)
class ExpectedLine:
    """A line of the case: what should be in the parcel. `serials` / `lots` are those shipped
    on the order line; `components` is {component product id: quantity per bundle}."""

    return_line_id: int
    product_id: int
    quantity: int
    serials: frozenset[str] = frozenset()
    lots: frozenset[str] = frozenset()
    components: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ParcelCase:
    """The case a parcel is received against, as the returns workflow describes it."""

    case_id: int
    label: str
    sales_order: SalesOrder
    lines: tuple[ExpectedLine, ...]


@dataclass
class _Item:
    scan: ScanResult
    product: Product | None
    serial: str = ""
    line: ExpectedLine | None = None
    kinds: list[str] = field(default_factory=list)
    on_books: bool = True


def receipt_by_token(*, client_token: str) -> Receipt | None:
    return Receipt.objects.filter(client_token=client_token).first()


@transaction.atomic
def receipt_record(
    *,
    case: ParcelCase,
    warehouse_id: int,
    scans: Sequence[ScanResult],
    packaging_ok: bool,
    client_token: str,
    actor: AbstractBaseUser,
) -> Receipt:
    """Receive a parcel against its case. The caller holds the case's row lock.

    Effects: refuses without `warehouse.receive_parcel`; the same client token returns the
    receipt it made and writes nothing; a case already received is refused (a second tablet);
    a serial- or lot-tracked item scanned without its serial / lot is refused. Otherwise
    creates the receipt and one unit per item scanned, matched against the case (SKU, serial
    shipped on the order, lot, quantity, bundle components, packaging); posts each unit's
    stock outside → in_transit_return → received_pending_inspection at the receiving location,
    and on to quarantined at the quarantine location when it did not match (with a quarantine
    record naming the receiver); opens one exception per kind of mismatch on the case with the
    evidence, which holds the case's refund. History rows name the receiver.
    """
    require_perm(actor, RECEIVE_PERMISSION, "receive parcels")
    replay = receipt_by_token(client_token=client_token)
    if replay is not None:
        return replay
    earlier = Receipt.objects.filter(case_id=case.case_id).select_related("received_by").first()
    if earlier is not None:
        raise ValidationError(
            f"{case.label} was already received by {earlier.received_by.get_username()} at "
            f"{timezone.localtime(earlier.received_at):%H:%M}.",
            code="already_received",
        )
    items = _items(scans)
    if not items:
        raise ValidationError({"scans": "Scan each item in the parcel before receiving it."})
    missing = _match(items, case.lines, packaging_ok=packaging_ok)
    now = timezone.now()
    receipt = Receipt(
        warehouse_id=warehouse_id,
        case_id=case.case_id,
        client_token=client_token,
        packaging_ok=packaging_ok,
        scans=[scan.raw for scan in scans],
        warnings=[warning for scan in scans for warning in scan.warnings],
        received_by=actor,
        received_at=now,
    )
    save(receipt, actor=actor, why=f"Received {case.label}")
    receiving = location_of_kind(warehouse_id=warehouse_id, kind=Location.Kind.RECEIVING)
    quarantine = None
    if any(item.kinds for item in items):
        quarantine = location_of_kind(warehouse_id=warehouse_id, kind=Location.Kind.QUARANTINE)
    units = [
        _unit_receive(item, receipt=receipt, receiving=receiving, quarantine=quarantine)
        for item in items
    ]
    _exceptions_open(case, receipt=receipt, units=units, missing=missing, actor=actor)
    return receipt


def _items(scans: Sequence[ScanResult]) -> list[_Item]:
    """One item per product scan; a scan that names no product right after a serial-tracked
    item without a serial is that item's serial (GTIN label, then the serial sticker)."""
    gtins = {scan.gtin for scan in scans if scan.gtin}
    products = {p.gtin: p for p in Product.objects.filter(gtin__in=gtins)}
    items: list[_Item] = []
    for scan in scans:
        previous = items[-1] if items else None
        if (
            not scan.gtin
            and previous is not None
            and previous.product is not None
            and previous.product.tracking == Product.Tracking.SERIAL
            and not previous.serial
            and scan.kind != ScanKind.RMA
        ):
            previous.serial = scan.serial or scan.raw.strip()
            continue
        if scan.identifies_parcel and not scan.gtin:
            continue
        product = products.get(scan.gtin) if scan.gtin else None
        items.append(_Item(scan=scan, product=product, serial=scan.serial))
    for item in items:
        _check_tracking(item)
    _mark_serials_in_stock(items)
    return items


def _check_tracking(item: _Item) -> None:
    product = item.product
    if product is None:
        return
    if product.tracking == Product.Tracking.SERIAL and not item.serial:
        raise ValidationError(
            {"scans": f"{product.sku} is serial-tracked: scan its serial number after it."}
        )
    if product.tracking == Product.Tracking.LOT and not item.scan.lot:
        raise ValidationError(
            {"scans": f"{product.sku} is lot-tracked: scan the GS1 label that carries its lot."}
        )


def _match(items: list[_Item], lines: Sequence[ExpectedLine], *, packaging_ok: bool) -> dict:
    """Assign items to lines and record each item's mismatches. Returns what is missing:
    {return_line_id: units or components short}."""
    remaining = {line.return_line_id: line.quantity for line in lines}
    by_product = defaultdict(list)
    by_component = defaultdict(list)
    for line in lines:
        by_product[line.product_id].append(line)
        for component_id in line.components:
            by_component[component_id].append(line)
    components_back: dict[int, Counter] = defaultdict(Counter)
    for item in items:
        if item.product is None:
            item.kinds.append(M.UNKNOWN_ITEM)
            continue
        if not item.on_books:
            item.kinds.append(M.FOREIGN_SERIAL)
        candidates = by_product.get(item.product.pk) or by_component.get(item.product.pk)
        if not candidates:
            item.kinds.append(M.WRONG_SKU)
            continue
        if item.product.pk in by_product:
            line = next((c for c in candidates if remaining[c.return_line_id] > 0), None)
            if line is None:
                item.kinds.append(M.EXTRA_ITEM)
                continue
            remaining[line.return_line_id] -= 1
        else:
            line = candidates[0]
            components_back[line.return_line_id][item.product.pk] += 1
        item.line = line
        serial_tracked = item.product.tracking == Product.Tracking.SERIAL
        if serial_tracked and (item.serial not in line.serials or not item.on_books):
            item.kinds.append(M.FOREIGN_SERIAL)
        lot_tracked = item.product.tracking == Product.Tracking.LOT
        if lot_tracked and line.lots and item.scan.lot not in line.lots:
            item.kinds.append(M.LOT_MISMATCH)
    missing = {}
    for line in lines:
        short = remaining[line.return_line_id]
        back = components_back.get(line.return_line_id)
        if back is not None:
            lacking = {
                component_id: per_bundle * short - back[component_id]
                for component_id, per_bundle in line.components.items()
                if back[component_id] < per_bundle * short
            }
            if lacking:
                missing[line.return_line_id] = {"components": lacking}
        elif short:
            missing[line.return_line_id] = {"units": short}
    # A wrong or unknown item in place of a missing one is most likely the same unit under a
    # wrong label: the SKU mismatch reports it, not a second "missing" exception.
    substitutes = sum(1 for item in items if {M.WRONG_SKU, M.UNKNOWN_ITEM} & set(item.kinds))
    short_units = sum(what.get("units", 0) for what in missing.values())
    if short_units and substitutes >= short_units:
        for what in missing.values():
            if "units" in what:
                what["stood_in_by_mismatch"] = True
    for item in items:
        what = missing.get(item.line.return_line_id) if item.line is not None else None
        if what and not what.get("stood_in_by_mismatch"):
            item.kinds.append(M.MISSING_COMPONENTS if "components" in what else M.MISSING_ITEMS)
        if not packaging_ok:
            item.kinds.append(M.PACKAGING_MISSING)
    return missing


def _mark_serials_in_stock(items: list[_Item]) -> None:
    """A serial the ledger already holds in stock cannot come back in a parcel: whatever is in
    the box, it is not that unit, and it cannot be received twice. Such an item stays off the
    books (`on_books` False) until its exception is worked."""
    serial_items = [i for i in items if i.product is not None and i.serial]
    if not serial_items:
        return
    in_stock = set(
        InventoryUnit.objects.filter(
            product_id__in={i.product.pk for i in serial_items},
            serial__in={i.serial for i in serial_items},
        )
        .exclude(state=OUTSIDE)
        .values_list("product_id", "serial")
    )
    for item in serial_items:
        if item.product.tracking == Product.Tracking.SERIAL:
            item.on_books = (item.product.pk, item.serial) not in in_stock


def _unit_receive(
    item: _Item, *, receipt: Receipt, receiving: Location, quarantine: Location | None
) -> ReturnUnit:
    actor = receipt.received_by
    unit = ReturnUnit(
        receipt=receipt,
        case_id=receipt.case_id,
        return_line_id=item.line.return_line_id if item.line else None,
        product=item.product,
        scanned_code=item.scan.raw.strip()[:200],
        serial=item.serial,
        lot=item.scan.lot,
        expiry=item.scan.expiry,
        match=MatchResult.MISMATCHED if item.kinds else MatchResult.MATCHED,
        mismatch_kinds=list(dict.fromkeys(item.kinds)),
        received_by=actor,
        received_at=receipt.received_at,
    )
    why = (
        "Received"
        if not item.kinds
        else "Received, mismatched: "
        + ", ".join(MismatchKind(kind).label.lower() for kind in unit.mismatch_kinds)
    )
    save(unit, actor=actor, why=why)
    if item.product is None or not item.on_books:
        return unit
    product = item.product
    stock = {
        "product_id": product.pk,
        "qty": 1,
        "lot": item.scan.lot if product.tracking == Product.Tracking.LOT else "",
        "serials": [item.serial] if product.tracking == Product.Tracking.SERIAL else [],
        "actor": actor,
        "cause_type": CauseType.RECEIPT,
        "cause_id": str(receipt.pk),
    }
    key = f"warehouse:unit:{unit.pk}"
    inventory.stock_receive(
        location_id=receiving.pk,
        to_state=S.IN_TRANSIT_RETURN,
        idempotency_key=f"{key}:arrive",
        **stock,
    )
    inventory.stock_move(
        from_location_id=receiving.pk,
        from_state=S.IN_TRANSIT_RETURN,
        to_location_id=receiving.pk,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key=f"{key}:dock",
        **stock,
    )
    unit.location, unit.stock_state = receiving, S.RECEIVED_PENDING_INSPECTION
    if item.kinds:
        inventory.stock_move(
            from_location_id=receiving.pk,
            from_state=S.RECEIVED_PENDING_INSPECTION,
            to_location_id=quarantine.pk,
            to_state=S.QUARANTINED,
            idempotency_key=f"{key}:quarantine",
            reason=why,
            **stock,
        )
        unit.location, unit.stock_state = quarantine, S.QUARANTINED
        record = QuarantineRecord(
            unit=unit,
            reason=why[:300],
            needs=["exceptions_resolved"],
            quarantined_by=actor,
            quarantined_at=receipt.received_at,
        )
        save(record, actor=actor, why=why)
    save(unit, actor=actor, why=f"On the books at {unit.location}")
    return unit


def _exceptions_open(
    case: ParcelCase,
    *,
    receipt: Receipt,
    units: list[ReturnUnit],
    missing: dict,
    actor: AbstractBaseUser,
) -> None:
    by_kind: dict[str, list[ReturnUnit]] = defaultdict(list)
    for unit in units:
        for kind in unit.mismatch_kinds:
            by_kind[EXCEPTION_KIND[kind]].append(unit)
    if any(not what.get("stood_in_by_mismatch") for what in missing.values()):
        by_kind.setdefault(ExceptionKind.MISSING_COMPONENTS, [])
    for kind, found in by_kind.items():
        evidence_units = [
            {
                "unit_id": unit.pk,
                "scanned_code": unit.scanned_code,
                "sku": unit.product.sku if unit.product_id else "",
                "serial": unit.serial,
                "lot": unit.lot,
                "mismatches": unit.mismatch_kinds,
                "location": str(unit.location or ""),
            }
            for unit in found
        ]
        products = {unit.product_id for unit in found}
        exception_open(
            kind=kind,
            subject_type=SubjectType.RETURN_CASE,
            subject_id=case.case_id,
            subject_label=case.label,
            summary=f"{ExceptionKind(kind).label} on receipt of {case.label}",
            details="\n".join(
                f"{u['sku'] or u['scanned_code']} {u['serial']}: {', '.join(u['mismatches'])}"
                for u in evidence_units
            ),
            evidence={
                "receipt_id": receipt.pk,
                "packaging_ok": receipt.packaging_ok,
                "scans": receipt.scans,
                "units": evidence_units,
                "missing": {str(k): v for k, v in missing.items()},
            },
            product=found[0].product if len(products) == 1 and found[0].product_id else None,
            sales_order=case.sales_order,
            actor=actor,
        )
