"""Receiving a return parcel at the bench: match what was scanned against what the case still
expects, post the stock through inventory, quarantine and report what did not match.

A case may come back in several parcels. Each parcel is matched against what earlier parcels
left outstanding; the parcel that brings the last expected unit completes the case, and so
does a parcel the operator closes short (what is still missing is then reported as a
missing-items exception instead of awaited).

Stock comes in at the receipt in two steps — outside → in_transit_return, then
in_transit_return → received_pending_inspection at the receiving location — so the ledger
shows the canonical flow even though nothing posted the parcel while it travelled (a case's
carrier milestones do not touch stock: a return that never arrives never reaches our books).
A mismatched unit then moves on to the quarantine location as quarantined. A parcel's
quantity posts go to inventory in one call (`stock_post_quantities`); serial-tracked units
go one by one through the unit services.

`receipt_preview` is the same matching, read-only: the bench shows it while the parcel is
being scanned, so what the screen flags is what the receipt will quarantine.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from erp.history import create_with_history, history_reason
from erp.models import Location, Product, SalesOrder
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open
from inventory import services as inventory
from inventory.models import OUTSIDE, CauseType, InventoryUnit, StockState

from ..models import MatchResult, MismatchKind, QuarantineRecord, Receipt, ReturnUnit
from ..scan import ScanKind, ScanResult, scan_parse
from ._support import locations_of_kinds, require_perm

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
# Mismatches of the item itself (the rest are about the parcel as a whole).
ITEM_KINDS = (M.UNKNOWN_ITEM, M.WRONG_SKU, M.EXTRA_ITEM, M.FOREIGN_SERIAL, M.LOT_MISMATCH)
# An item of these kinds in place of a missing unit stands in for it (`_match`, `_outstanding`).
_SUBSTITUTE_KINDS = {M.WRONG_SKU, M.UNKNOWN_ITEM}


@dataclass(frozen=True)
class ExpectedLine:
    """A line of the case: what should come back. `serials` / `lots` are those shipped on the
    order line; `components` is {component product id: quantity per bundle}. `received` and
    `components_received` ({component product id: units}) are what earlier parcels of the case
    already brought for this line."""

    return_line_id: int
    product_id: int
    quantity: int
    serials: frozenset[str] = frozenset()
    lots: frozenset[str] = frozenset()
    components: dict[int, int] = field(default_factory=dict)
    received: int = 0
    components_received: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ParcelCase:
    """The case a parcel is received against, as the returns workflow describes it.
    `fully_received`: an earlier parcel completed it (a second tablet on the same parcel).
    `token` / `token_receipt_id`: the caller, holding the case's lock, already looked up
    which receipt the client token `token` made (None: none), so the receipt need not."""

    case_id: int
    label: str
    sales_order: SalesOrder | None
    lines: tuple[ExpectedLine, ...]
    fully_received: bool = False
    token: str = ""
    token_receipt_id: int | None = None


@dataclass
class _Item:
    scan: ScanResult
    product: Product | None
    code: str = ""
    serial: str = ""
    line: ExpectedLine | None = None
    kinds: list[str] = field(default_factory=list)
    on_books: bool = True
    extra_of: int = 0  # an extra item: how many units its lines expect
    problem: str = ""  # a code that could not be read (preview only: a receipt refuses it)

    @property
    def pending(self) -> str:
        """What the bench still has to scan for this item, if anything."""
        if self.product is None:
            return ""
        if self.product.tracking == Product.Tracking.SERIAL and not self.serial:
            return "Now scan its serial number."
        if self.product.tracking == Product.Tracking.LOT and not self.scan.lot:
            return "Lot-tracked: scan the GS1 label that carries its lot."
        return ""


# ---- Read-only: what a parcel would be received as -------------------------------------------


@dataclass(frozen=True)
class PreviewItem:
    """One item of the parcel as the receipt would take it: `flag` says why it would be
    quarantined, `pending` what the bench must still scan for it."""

    code: str
    product: Product | None
    serial: str
    lot: str
    kinds: tuple[str, ...]
    flag: str
    pending: str
    warnings: tuple[str, ...]
    return_line_id: int | None


@dataclass(frozen=True)
class PreviewLine:
    """A line of the case: expected units, those earlier parcels brought, those scanned now,
    and for a bundle each component's {product id: (expected, received)}."""

    return_line_id: int
    quantity: int
    received_before: int
    scanned: int
    components: dict[int, tuple[int, int]]

    @property
    def received(self) -> int:
        return self.received_before + self.scanned

    @property
    def complete(self) -> bool:
        if self.components and self.received < self.quantity:
            return all(got >= want for want, got in self.components.values())
        return self.received >= self.quantity

    @property
    def short(self) -> int:
        if self.components and self.received < self.quantity:
            return sum(max(want - got, 0) for want, got in self.components.values())
        return max(self.quantity - self.received, 0)


@dataclass(frozen=True)
class ParcelPreview:
    lines: tuple[PreviewLine, ...]
    items: tuple[PreviewItem, ...]

    @property
    def flagged(self) -> int:
        return sum(1 for item in self.items if item.flag)

    @property
    def stand_ins(self) -> tuple[tuple[int, PreviewItem], ...]:
        """(return line id, item) for each missing unit a wrong or unknown item stands in for,
        paired in order. As the receipt counts them (`_outstanding`): only when such items
        cover every unit still missing, the parcel is the case's under a wrong label — it is
        complete, and its SKU-mismatch exception, not a missing-items one, reports it."""
        substitutes = [item for item in self.items if set(item.kinds) & _SUBSTITUTE_KINDS]
        short = [
            line.return_line_id
            for line in self.lines
            if not any(got for _want, got in line.components.values())
            for _unit in range(max(line.quantity - line.received, 0))
        ]
        parts_short = any(
            line.short and any(got for _want, got in line.components.values())
            for line in self.lines
        )
        if not short or parts_short or len(substitutes) < len(short):
            return ()
        return tuple(zip(short, substitutes, strict=False))

    @property
    def missing(self) -> int:
        """Units (or bundle parts) still to come, not counting those a stand-in replaces."""
        return sum(line.short for line in self.lines) - len(self.stand_ins)

    @property
    def pending(self) -> bool:
        return any(item.pending for item in self.items)


def receipt_preview(*, case: ParcelCase, codes: Sequence[str]) -> ParcelPreview:
    """What receiving these codes against the case would do, without writing anything: each
    item matched as `receipt_record` matches it (a code that cannot be read is flagged with
    the reason), each line's count. One query for the products, one more when serials were
    scanned."""
    scans: list[ScanResult | _Unreadable] = []
    for code in codes:
        try:
            scans.append(scan_parse(code))
        except ValidationError as problem:
            scans.append(_Unreadable(code=code, problem=" ".join(problem.messages)))
    items = _items(scans)
    _match(items, case.lines, packaging_ok=True, close_short=False)
    counts = Counter()
    components: dict[int, Counter] = defaultdict(Counter)
    for item in items:
        if item.line is None:
            continue
        if item.product.pk == item.line.product_id:
            counts[item.line.return_line_id] += 1
        else:
            components[item.line.return_line_id][item.product.pk] += 1
    lines = tuple(
        PreviewLine(
            return_line_id=line.return_line_id,
            quantity=line.quantity,
            received_before=line.received,
            scanned=counts[line.return_line_id],
            components={
                component_id: (
                    per_bundle * line.quantity,
                    line.components_received.get(component_id, 0)
                    + components[line.return_line_id][component_id],
                )
                for component_id, per_bundle in line.components.items()
            },
        )
        for line in case.lines
    )
    return ParcelPreview(
        lines=lines,
        items=tuple(
            PreviewItem(
                code=item.code or item.scan.raw,
                product=item.product,
                serial=item.serial,
                lot=item.scan.lot,
                kinds=tuple(dict.fromkeys(item.kinds)),
                flag=item.problem or _flag(item),
                pending="" if item.problem else item.pending,
                warnings=item.scan.warnings,
                return_line_id=item.line.return_line_id if item.line else None,
            )
            for item in items
        ),
    )


def _flag(item: _Item) -> str:
    kinds = item.kinds
    if M.UNKNOWN_ITEM in kinds:
        if item.scan.gtin:
            return f"Unknown item: no product of ours has GTIN {item.scan.gtin}."
        return f"Unknown item: {item.scan.raw.strip()} names no product. Scan the product barcode."
    if M.WRONG_SKU in kinds:
        return f"Wrong SKU: {item.product.sku} is not on this return."
    if M.EXTRA_ITEM in kinds:
        return f"Extra item: the return expects {item.extra_of}."
    if M.FOREIGN_SERIAL in kinds:
        if not item.on_books:
            return f"Serial {item.serial} is in our stock already: it cannot be this return."
        return f"Serial {item.serial} was not shipped on this order."
    if M.LOT_MISMATCH in kinds:
        return f"Lot {item.scan.lot} was not shipped on this order."
    return ""


# ---- The receipt ---------------------------------------------------------------------------


def receipt_by_token(*, client_token: str) -> Receipt | None:
    return Receipt.objects.filter(client_token=client_token).first()


@transaction.atomic(savepoint=False)
def receipt_record(
    *,
    case: ParcelCase,
    warehouse_id: int,
    scans: Sequence[ScanResult],
    packaging_ok: bool,
    client_token: str,
    actor: AbstractBaseUser,
    close_short: bool = False,
    received_for: str = "",
) -> Receipt:
    """Receive a parcel against its case. The caller holds the case's row lock.

    Effects: refuses without `warehouse.receive_parcel`; the same client token returns the
    receipt it made (with `receipt.replayed` True) and writes nothing; a case an earlier
    parcel completed is refused (a second tablet on the same parcel); a serial- or lot-tracked
    item scanned without its serial / lot is refused; a parcel with nothing scanned is refused
    unless it closes the case short. Otherwise creates the receipt and one unit per item
    scanned, matched against what the case still expects (SKU, serial shipped on the order,
    lot, quantity, bundle components, packaging); posts each unit's stock outside →
    in_transit_return → received_pending_inspection at the receiving location, and on to
    quarantined at the quarantine location when it did not match (with a quarantine record
    naming the receiver); opens one exception per kind of mismatch on the case with the
    evidence, which holds the case's refund. What is still missing is reported (a
    missing-items exception, the parcel's units of a short line quarantined) only when the
    parcel closes the case short; otherwise the case awaits its next parcel.
    `receipt.completes_case` says whether the case has everything now (or was closed short).
    History rows name the receiver (and `received_for`, a 3PL that reported the receipt).
    Opens no savepoint: a refusal raises before anything is written.
    """
    require_perm(actor, RECEIVE_PERMISSION, "receive parcels")
    if case.token and case.token == client_token:
        replay = case.token_receipt_id and Receipt.objects.get(pk=case.token_receipt_id)
    else:
        replay = receipt_by_token(client_token=client_token)
    if replay is not None:
        replay.replayed = True
        return replay
    if case.fully_received:
        earlier = (
            Receipt.objects.filter(case_id=case.case_id)
            .select_related("received_by")
            .order_by("-received_at", "-id")
            .first()
        )
        who = earlier.received_by.get_username() if earlier else "another tablet"
        when = f" at {timezone.localtime(earlier.received_at):%H:%M}" if earlier else ""
        raise ValidationError(
            f"{case.label} was already received by {who}{when}.", code="already_received"
        )
    items = _items(scans)
    for item in items:
        _check_tracking(item)
    if not items and not close_short:
        raise ValidationError({"scans": "Scan each item in the parcel before receiving it."})
    missing = _match(items, case.lines, packaging_ok=packaging_ok, close_short=close_short)
    complete = close_short or not _outstanding(items, case.lines)
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
        completes_case=complete,
        closed_short=close_short and bool(missing),
        received_for=received_for[:80],
    )
    why = f"Received {case.label}" + (f" for {received_for}" if received_for else "")
    if receipt.closed_short:
        why += ", closed short"
    receipt.replayed = False
    locations = _locations(warehouse_id, items)
    units = _units_create(items, receipt=receipt, locations=locations, actor=actor, why=why)
    _stock_post(list(zip(items, units, strict=True)), receipt=receipt, locations=locations)
    _quarantine_records(units, actor=actor, at=now)
    _exceptions_open(case, receipt=receipt, units=units, missing=missing, actor=actor)
    return receipt


def _locations(warehouse_id: int, items: list[_Item]) -> dict[str, Location]:
    if not items:
        return {}
    kinds = [Location.Kind.RECEIVING]
    if any(item.kinds for item in items):
        kinds.append(Location.Kind.QUARANTINE)
    return locations_of_kinds(warehouse_id=warehouse_id, kinds=kinds)


@dataclass(frozen=True)
class _Unreadable:
    code: str
    problem: str


def _items(scans: Sequence[ScanResult | _Unreadable]) -> list[_Item]:
    """One item per product scan; a scan that names no product right after a serial-tracked
    item without a serial is that item's serial (GTIN label, then the serial sticker). An
    unreadable code (preview only) is an item of its own that matches nothing."""
    gtins = {scan.gtin for scan in scans if isinstance(scan, ScanResult) and scan.gtin}
    products = {p.gtin: p for p in Product.objects.filter(gtin__in=gtins)} if gtins else {}
    items: list[_Item] = []
    for scan in scans:
        if isinstance(scan, _Unreadable):
            unread = ScanResult(kind=ScanKind.UNKNOWN, raw=scan.code)
            items.append(_Item(scan=unread, product=None, code=scan.code, problem=scan.problem))
            continue
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
            previous.code = f"{previous.code} + {scan.raw}"
            continue
        if scan.identifies_parcel and not scan.gtin:
            continue
        product = products.get(scan.gtin) if scan.gtin else None
        items.append(_Item(scan=scan, product=product, code=scan.raw, serial=scan.serial))
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


def _match(
    items: list[_Item], lines: Sequence[ExpectedLine], *, packaging_ok: bool, close_short: bool
) -> dict:
    """Assign items to what the lines still expect and record each item's mismatches.
    Returns what is missing when the parcel closes the case short ({return_line_id: units or
    components short}), else {}: the case awaits its next parcel."""
    remaining = {line.return_line_id: line.quantity - line.received for line in lines}
    by_product = defaultdict(list)
    by_component = defaultdict(list)
    for line in lines:
        by_product[line.product_id].append(line)
        for component_id in line.components:
            by_component[component_id].append(line)
    for item in items:
        if item.problem:
            continue
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
                item.extra_of = sum(c.quantity for c in candidates)
                continue
            remaining[line.return_line_id] -= 1
        else:
            line = candidates[0]
        item.line = line
        serial_tracked = item.product.tracking == Product.Tracking.SERIAL
        if (
            serial_tracked
            and item.serial
            and (item.serial not in line.serials or not item.on_books)
            and M.FOREIGN_SERIAL not in item.kinds
        ):
            item.kinds.append(M.FOREIGN_SERIAL)
        lot_tracked = item.product.tracking == Product.Tracking.LOT
        if lot_tracked and item.scan.lot and line.lots and item.scan.lot not in line.lots:
            item.kinds.append(M.LOT_MISMATCH)
    if not close_short:
        if not packaging_ok:
            for item in items:
                item.kinds.append(M.PACKAGING_MISSING)
        return {}
    missing = {}
    components_back = _components_back(items, lines)
    for line in lines:
        short = remaining[line.return_line_id]
        back = components_back.get(line.return_line_id)
        if short > 0 and back:
            lacking = {
                component_id: per_bundle * short - back[component_id]
                for component_id, per_bundle in line.components.items()
                if back[component_id] < per_bundle * short
            }
            if lacking:
                missing[line.return_line_id] = {"components": lacking}
        elif short > 0:
            missing[line.return_line_id] = {"units": short}
    # A wrong or unknown item in place of a missing one is most likely the same unit under a
    # wrong label: the SKU mismatch reports it, not a second "missing" exception.
    substitutes = sum(1 for item in items if _SUBSTITUTE_KINDS & set(item.kinds))
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


def _components_back(items: list[_Item], lines: Sequence[ExpectedLine]) -> dict[int, Counter]:
    """{return line id: Counter of component units back} — earlier parcels and this one —
    for the bundle lines some component of which came back loose."""
    back: dict[int, Counter] = {}
    for line in lines:
        if line.components_received:
            back[line.return_line_id] = Counter(line.components_received)
    for item in items:
        if item.line is not None and item.product.pk != item.line.product_id:
            back.setdefault(item.line.return_line_id, Counter())[item.product.pk] += 1
    return back


def _outstanding(items: list[_Item], lines: Sequence[ExpectedLine]) -> bool:
    """Whether some line still expects units (or a bundle's components) after this parcel."""
    remaining = {line.return_line_id: line.quantity - line.received for line in lines}
    for item in items:
        if item.line is not None and item.product.pk == item.line.product_id:
            remaining[item.line.return_line_id] -= 1
    components_back = _components_back(items, lines)
    short_units = 0
    for line in lines:
        short = remaining[line.return_line_id]
        if short <= 0:
            continue
        back = components_back.get(line.return_line_id)
        if back and any(
            back[component_id] < per_bundle * short
            for component_id, per_bundle in line.components.items()
        ):
            return True
        if not back:
            short_units += short
    # A wrong or unknown item in place of a missing unit stands in for it (as in `_match`):
    # the parcel is the case's, under a wrong label, and its exception says so.
    substitutes = sum(1 for item in items if _SUBSTITUTE_KINDS & set(item.kinds))
    return short_units > substitutes


def _mark_serials_in_stock(items: list[_Item]) -> None:
    """A serial the ledger already holds in stock cannot come back in a parcel: whatever is in
    the box, it is not that unit, and it cannot be received twice. Such an item stays off the
    books (`on_books` False) until its exception is worked."""
    serial_items = [
        i
        for i in items
        if i.product is not None and i.serial and i.product.tracking == Product.Tracking.SERIAL
    ]
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
        item.on_books = (item.product.pk, item.serial) not in in_stock


def _unit_why(kinds: list[str]) -> str:
    if not kinds:
        return "Received"
    return "Received, mismatched: " + ", ".join(MismatchKind(kind).label.lower() for kind in kinds)


def _units_create(
    items: list[_Item],
    *,
    receipt: Receipt,
    locations: dict[str, Location],
    actor: AbstractBaseUser,
    why: str,
) -> list[ReturnUnit]:
    """The receipt and its units, each created where its stock is about to be posted (one
    statement for the receipt and two for the units, history included, however many there
    are)."""
    create_with_history(receipt, actor=actor, why=why)
    units = []
    for item in items:
        kinds = list(dict.fromkeys(item.kinds))
        on_books = item.product is not None and item.on_books
        location = None
        if on_books:
            location = locations[Location.Kind.QUARANTINE if kinds else Location.Kind.RECEIVING]
        unit = ReturnUnit(
            receipt=receipt,
            case_id=receipt.case_id,
            return_line_id=item.line.return_line_id if item.line else None,
            product=item.product,
            scanned_code=item.scan.raw.strip()[:200],
            serial=item.serial,
            lot=item.scan.lot,
            expiry=item.scan.expiry,
            match=MatchResult.MISMATCHED if kinds else MatchResult.MATCHED,
            mismatch_kinds=kinds,
            location=location,
            stock_state=(S.QUARANTINED if kinds else S.RECEIVED_PENDING_INSPECTION)
            if on_books
            else "",
            received_by=actor,
            received_at=receipt.received_at,
        )
        unit._history_user = actor
        unit._change_reason = history_reason(_unit_why(kinds))
        units.append(unit)
    if units:
        bulk_create_with_history(units, ReturnUnit, default_user=actor)
    return units


def _stock_post(
    pairs: list[tuple[_Item, ReturnUnit]], *, receipt: Receipt, locations: dict[str, Location]
) -> None:
    """Each unit on the books: arrive, dock, and on to quarantine when it did not match."""
    if not pairs:
        return
    actor = receipt.received_by
    receiving = locations[Location.Kind.RECEIVING]
    posts: list[inventory.QuantityPost] = []
    for item, unit in pairs:
        if unit.location_id is None:
            continue
        product = item.product
        key = f"warehouse:unit:{unit.pk}"
        steps = [
            (None, None, receiving.pk, S.IN_TRANSIT_RETURN, "arrive", ""),
            (
                receiving.pk,
                S.IN_TRANSIT_RETURN,
                receiving.pk,
                S.RECEIVED_PENDING_INSPECTION,
                "dock",
                "",
            ),
        ]
        if unit.stock_state == S.QUARANTINED:
            why = _unit_why(unit.mismatch_kinds)
            steps.append(
                (
                    receiving.pk,
                    S.RECEIVED_PENDING_INSPECTION,
                    unit.location_id,
                    S.QUARANTINED,
                    "quarantine",
                    why,
                )
            )
        lot = item.scan.lot if product.tracking == Product.Tracking.LOT else ""
        if product.tracking == Product.Tracking.SERIAL:
            _serial_post(unit, steps, key=key, actor=actor, receipt=receipt)
            continue
        posts.extend(
            inventory.QuantityPost(
                idempotency_key=f"{key}:{step}",
                product_id=product.pk,
                qty=1,
                lot=lot,
                from_location_id=from_location,
                from_state=from_state,
                to_location_id=to_location,
                to_state=to_state,
                cause_type=CauseType.RECEIPT,
                cause_id=str(receipt.pk),
                reason=reason,
            )
            for from_location, from_state, to_location, to_state, step, reason in steps
        )
    if posts:
        inventory.stock_post_quantities(posts=posts, actor=actor)


def _serial_post(unit: ReturnUnit, steps, *, key: str, actor, receipt: Receipt) -> None:
    common = {
        "product_id": unit.product_id,
        "qty": 1,
        "serials": [unit.serial],
        "actor": actor,
        "cause_type": CauseType.RECEIPT,
        "cause_id": str(receipt.pk),
    }
    for from_location, from_state, to_location, to_state, step, reason in steps:
        if from_location is None:
            inventory.stock_receive(
                location_id=to_location,
                to_state=to_state,
                idempotency_key=f"{key}:{step}",
                **common,
            )
        else:
            inventory.stock_move(
                from_location_id=from_location,
                from_state=from_state,
                to_location_id=to_location,
                to_state=to_state,
                idempotency_key=f"{key}:{step}",
                reason=reason,
                **common,
            )


def _quarantine_records(units: list[ReturnUnit], *, actor: AbstractBaseUser, at) -> None:
    records = []
    for unit in units:
        if unit.stock_state != S.QUARANTINED:
            continue
        why = _unit_why(unit.mismatch_kinds)
        record = QuarantineRecord(
            unit=unit,
            reason=why[:300],
            needs=["exceptions_resolved"],
            quarantined_by=actor,
            quarantined_at=at,
        )
        record._history_user = actor
        record._change_reason = history_reason(why)
        records.append(record)
    if records:
        bulk_create_with_history(records, QuarantineRecord, default_user=actor)


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
        summary = f"{ExceptionKind(kind).label} on receipt of {case.label}"
        if receipt.closed_short and kind == ExceptionKind.MISSING_COMPONENTS:
            summary += " (closed short)"
        exception_open(
            kind=kind,
            subject_type=SubjectType.RETURN_CASE,
            subject_id=case.case_id,
            subject_label=case.label,
            summary=summary,
            details="\n".join(
                f"{u['sku'] or u['scanned_code']} {u['serial']}: {', '.join(u['mismatches'])}"
                for u in evidence_units
            )
            or "Closed short: "
            + ", ".join(
                f"line {line_id}: {what.get('units') or what.get('components')}"
                for line_id, what in missing.items()
            ),
            evidence={
                "receipt_id": receipt.pk,
                "packaging_ok": receipt.packaging_ok,
                "closed_short": receipt.closed_short,
                "received_for": receipt.received_for,
                "scans": receipt.scans,
                "units": evidence_units,
                "missing": {str(k): v for k, v in missing.items()},
            },
            product=found[0].product if len(products) == 1 and found[0].product_id else None,
            sales_order=case.sales_order,
            actor=actor,
        )
