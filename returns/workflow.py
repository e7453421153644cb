"""The returns workflow at the warehouse (DESIGN.md): the services the tablet screens call.
Each runs one transaction that moves the case and calls the warehouse, inventory and finance
services below it: receipt → case received (refund evaluated on receipt); inspection → case
inspected once every unit is; disposition / quarantine release → refund evaluated on
inspection once every unit is decided.

Every service takes the form's client token: a double tap or a resubmit returns what the first
submit made and posts nothing; two tablets on the same parcel are serialized by the case's
row lock, and the second is refused.
"""

from collections import defaultdict
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q

from erp.models import BundleComponent, ShippedItem
from warehouse import services as warehouse
from warehouse.models import Disposition, Inspection, Receipt, ReturnUnit, UnitState
from warehouse.scan import ScanKind, ScanResult, scan_parse

from . import services
from .models import RefundTrigger, ReturnCase, ReturnState
from .refunds import case_refund_evaluate


def case_find_by_scan(*, code: str | ScanResult) -> list[ReturnCase]:
    """The cases a parcel scan may belong to: the RMA on the label, or the cases shipped
    under a carrier tracking number (newest first). Empty when the code names no parcel."""
    scan = code if isinstance(code, ScanResult) else scan_parse(code)
    cases = ReturnCase.objects.select_related("order", "customer", "expected_warehouse")
    if scan.kind == ScanKind.RMA:
        return list(cases.filter(rma_number=scan.rma_number))
    if scan.kind == ScanKind.TRACKING:
        return list(cases.filter(tracking_number__iexact=scan.tracking_number)[:10])
    return []


def parcel_case(case: ReturnCase) -> warehouse.ParcelCase:
    """What the warehouse needs to match a parcel: each line's SKU and quantity, the serials
    and lots shipped on its order line, and its bundle components. Four queries."""
    lines = list(case.lines.select_related("order_line"))
    order_line_ids = [line.order_line_id for line in lines]
    serials, lots = defaultdict(set), defaultdict(set)
    for order_line_id, serial, lot in ShippedItem.objects.filter(
        line_id__in=order_line_ids
    ).values_list("line_id", "serial_number", "lot_number"):
        if serial:
            serials[order_line_id].add(serial)
        if lot:
            lots[order_line_id].add(lot)
    components = defaultdict(dict)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in=[line.order_line.product_id for line in lines]
    ).values_list("bundle_id", "component_id", "quantity"):
        components[bundle_id][component_id] = quantity
    return warehouse.ParcelCase(
        case_id=case.pk,
        label=case.rma_number,
        sales_order=case.order,
        lines=tuple(
            warehouse.ExpectedLine(
                return_line_id=line.pk,
                product_id=line.order_line.product_id,
                quantity=line.quantity,
                serials=frozenset(serials[line.order_line_id]),
                lots=frozenset(lots[line.order_line_id]),
                components=components[line.order_line.product_id],
            )
            for line in lines
        ),
    )


def _case_locked(case_id: int) -> ReturnCase:
    return (
        ReturnCase.objects.select_for_update(of=("self",)).select_related("order").get(pk=case_id)
    )


@transaction.atomic
def return_parcel_receive(
    *,
    case_id: int,
    warehouse_id: int,
    scans: Sequence[str | ScanResult],
    packaging_ok: bool,
    client_token: str,
    actor: AbstractBaseUser,
) -> Receipt:
    """Receive a case's parcel at a warehouse. `scans` are the codes read in the parcel, in
    order (strings are parsed here; a bad check digit is a ValidationError): item GTINs or
    GS1 labels, each serial-tracked item followed by its serial when its label carries none.

    Effects: locks the case; the same client token returns the receipt it made. Otherwise
    `warehouse.services.receipt_record` (units, stock, quarantine, exceptions — see there),
    then the case moves to received (`returns.services.return_case_receive`: permission,
    state, customer message), then the refund is evaluated at stage on_receipt. All or
    nothing: a refusal anywhere writes nothing.
    """
    case = _case_locked(case_id)
    replay = warehouse.receipt_by_token(client_token=client_token)
    if replay is not None:
        return replay
    parsed = [scan if isinstance(scan, ScanResult) else scan_parse(scan) for scan in scans]
    receipt = warehouse.receipt_record(
        case=parcel_case(case),
        warehouse_id=warehouse_id,
        scans=parsed,
        packaging_ok=packaging_ok,
        client_token=client_token,
        actor=actor,
    )
    if case.state != ReturnState.RECEIVED:
        services.return_case_receive(case_id=case.pk, actor=actor)
    case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_RECEIPT, actor=actor)
    return receipt


@transaction.atomic
def return_unit_inspect(
    *,
    unit_id: int,
    answers: dict,
    grade: str,
    client_token: str,
    actor: AbstractBaseUser,
    notes: str = "",
    photos: Sequence[UploadedFile] = (),
) -> Inspection:
    """Inspect one received unit.

    Effects: locks the unit's case (so two tablets finishing the last two units see each
    other); `warehouse.services.inspection_record` (see there); when no unit of the case waits
    for inspection any more, the case moves to inspected (`return_case_inspect`).
    """
    case = _case_locked(_case_of(unit_id))
    inspection = warehouse.inspection_record(
        unit_id=unit_id,
        answers=answers,
        grade=grade,
        notes=notes,
        photos=photos,
        client_token=client_token,
        actor=actor,
    )
    waiting = ReturnUnit.objects.filter(case=case, state=UnitState.RECEIVED).exists()
    if case.state == ReturnState.RECEIVED and not waiting:
        services.return_case_inspect(case_id=case.pk, actor=actor, note="Every unit inspected")
    return inspection


@transaction.atomic
def return_unit_disposition(
    *,
    unit_id: int,
    client_token: str,
    actor: AbstractBaseUser,
    outcome: str | None = None,
    override_reason: str = "",
) -> Disposition:
    """Decide an inspected unit: `outcome` None accepts the rules' suggestion, "hold" decides
    later, anything else is an override (permission and reason).

    Effects: locks the unit's case; `warehouse.services.disposition_record` (stock, put-away,
    quarantine, fraud review — see there); once every unit of the case is decided, the
    refund is evaluated at stage on_inspection.
    """
    case = _case_locked(_case_of(unit_id))
    decision = warehouse.disposition_record(
        unit_id=unit_id,
        outcome=outcome,
        override_reason=override_reason,
        client_token=client_token,
        actor=actor,
    )
    _evaluate_when_decided(case, actor=actor)
    return decision


@transaction.atomic
def quarantine_release(
    *, unit_id: int, to_outcome: str, reason: str, client_token: str, actor: AbstractBaseUser
) -> Disposition:
    """Release a quarantined unit to `to_outcome` (maker-checker, permission, reason).

    Effects: locks the unit's case; `warehouse.services.quarantine_release` (see there); then
    the refund is evaluated again at stage on_inspection, now that the outcome is known.
    """
    case = _case_locked(_case_of(unit_id))
    decision = warehouse.quarantine_release(
        unit_id=unit_id,
        to_outcome=to_outcome,
        reason=reason,
        client_token=client_token,
        actor=actor,
    )
    _evaluate_when_decided(case, actor=actor)
    return decision


def _case_of(unit_id: int) -> int:
    return ReturnUnit.objects.values_list("case_id", flat=True).get(pk=unit_id)


def _evaluate_when_decided(case: ReturnCase, *, actor: AbstractBaseUser) -> None:
    undecided = ReturnUnit.objects.filter(Q(case=case) & ~Q(state=UnitState.DISPOSITIONED)).exists()
    if not undecided:
        case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_INSPECTION, actor=actor)
