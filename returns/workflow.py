"""The returns workflow at the warehouse (DESIGN.md): the services the tablet screens call.
Each runs one transaction that moves the case and calls the warehouse, inventory and finance
services below it: receipt → case received (refund evaluated on receipt); inspection → case
inspected once every unit is; disposition / quarantine release → refund evaluated on
inspection once every unit is decided.

Every service takes the form's client token: a double tap or a resubmit returns what the first
submit made and posts nothing; two tablets on the same parcel are serialized by the case's
row lock, and the second is refused.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, JSONObject
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from erp.history import save_with_history, update_with_history
from erp.models import BundleComponent, ShippedItem
from warehouse import services as warehouse
from warehouse.models import (
    ChecklistTemplate,
    Disposition,
    Inspection,
    Receipt,
    ReturnUnit,
    UnitState,
)
from warehouse.scan import ScanKind, ScanResult, scan_parse

from . import services
from .models import RefundTrigger, ReturnCase, ReturnLine, ReturnState
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


# A case a parcel completed: a second tablet on the same parcel is refused.
FULLY_RECEIVED = (ReturnState.RECEIVED, ReturnState.INSPECTED, ReturnState.CLOSED)


def parcel_case(case: ReturnCase, *, client_token: str = "") -> warehouse.ParcelCase:
    """What the warehouse needs to match a parcel: each line's SKU and quantity, the serials
    and lots shipped on its order line, its bundle components, and what earlier parcels of
    the case already brought for it. One query: on PostgreSQL all of it at once, for a case
    from `returns.inbound.inbound_case_get` (lines, shipped items and components
    prefetched) what earlier parcels brought; elsewhere three (four when a bundle line is
    returned).

    Read after the case's lock, never in the locking statement: a statement that waited for
    the lock still sees the database as it was when it started, so it would miss the units a
    parcel received by another tablet meanwhile.

    `client_token` (PostgreSQL): the receipt that token made, if any, is looked up in the same
    query, for `receipt_record`'s replay check."""
    prefetched = getattr(case, "_prefetched_objects_cache", {}).get("lines")
    if prefetched is not None:
        return _parcel_case_prefetched(case, list(prefetched))
    if connection.vendor == "postgresql":
        token_receipt = Receipt.objects.filter(client_token=client_token).values("pk")[:1]
        rows, token_receipt_id = (
            ReturnCase.objects.filter(pk=case.pk)
            .values_list(_parcel_lines(), Subquery(token_receipt))
            .get()
        )
        parcel = _parcel_case_read_at_once(case, rows)
        if not client_token:
            return parcel
        return replace(parcel, token=client_token, token_receipt_id=token_receipt_id)
    own_units = (
        ReturnUnit.objects.filter(
            return_line=OuterRef("pk"), product_id=OuterRef("order_line__product_id")
        )
        .order_by()
        .values("return_line")
        .annotate(n=Count("pk"))
        .values("n")
    )
    lines = list(
        case.lines.select_related("order_line").annotate(
            units_received=Coalesce(Subquery(own_units, output_field=IntegerField()), 0)
        )
    )
    order_line_ids = [line.order_line_id for line in lines]
    shipped = defaultdict(list)
    for order_line_id, serial, lot in ShippedItem.objects.filter(
        line_id__in=order_line_ids
    ).values_list("line_id", "serial_number", "lot_number"):
        shipped[order_line_id].append((serial, lot))
    components = defaultdict(dict)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in=[line.order_line.product_id for line in lines]
    ).values_list("bundle_id", "component_id", "quantity"):
        components[bundle_id][component_id] = quantity
    received: dict[int, Counter] = defaultdict(Counter)
    bundle_lines = [line.pk for line in lines if components[line.order_line.product_id]]
    if bundle_lines:
        for line_id, product_id in ReturnUnit.objects.filter(
            return_line_id__in=bundle_lines
        ).values_list("return_line_id", "product_id"):
            received[line_id][product_id] += 1
    for line in lines:
        received[line.pk][line.order_line.product_id] = line.units_received
    return _parcel_case(case, lines, shipped, components, received)


def _parcel_lines() -> ArraySubquery:
    """The case's lines as one array of JSON objects — each with the serials and lots shipped
    on its order line, its bundle components and the units earlier parcels brought per
    product — in one query (PostgreSQL)."""
    shipped = ShippedItem.objects.filter(line=OuterRef("order_line_id")).values(
        item=JSONObject(serial="serial_number", lot="lot_number")
    )
    components = (
        BundleComponent.objects.filter(bundle=OuterRef("order_line__product_id"))
        .order_by()
        .values(part=JSONObject(product_id="component_id", quantity="quantity"))
    )
    received = (
        ReturnUnit.objects.filter(return_line=OuterRef("pk"), product__isnull=False)
        .order_by()
        .values("product_id")
        .annotate(units=Count("pk"))
        .values(back=JSONObject(product_id="product_id", units="units"))
    )
    return ArraySubquery(
        ReturnLine.objects.filter(case=OuterRef("pk"))
        .order_by("pk")
        .values(
            line=JSONObject(
                id="pk",
                quantity="quantity",
                order_line_id="order_line_id",
                product_id="order_line__product_id",
                shipped=ArraySubquery(shipped),
                components=ArraySubquery(components),
                received=ArraySubquery(received),
            )
        )
    )


@dataclass(frozen=True)
class _LineRead:
    """A case line as `_parcel_lines` reads it, with what `_parcel_case` reads of a line."""

    pk: int
    quantity: int
    order_line_id: int
    product_id: int

    @property
    def order_line(self):
        return self


def _parcel_case_read_at_once(case: ReturnCase, rows: list) -> warehouse.ParcelCase:
    lines, shipped, components = [], {}, defaultdict(dict)
    received: dict[int, Counter] = defaultdict(Counter)
    for row in rows:
        row = json.loads(row) if isinstance(row, str) else row
        line = _LineRead(row["id"], row["quantity"], row["order_line_id"], row["product_id"])
        lines.append(line)
        shipped[line.order_line_id] = [(item["serial"], item["lot"]) for item in row["shipped"]]
        for part in row["components"]:
            components[line.product_id][part["product_id"]] = part["quantity"]
        for back in row["received"]:
            received[line.pk][back["product_id"]] = back["units"]
    return _parcel_case(case, lines, shipped, components, received)


def _parcel_case_prefetched(case: ReturnCase, lines: list) -> warehouse.ParcelCase:
    shipped = {
        line.order_line_id: [
            (item.serial_number, item.lot_number) for item in line.order_line.shipped_items.all()
        ]
        for line in lines
    }
    components = defaultdict(dict)
    for line in lines:
        for part in line.order_line.product.components.all():
            components[line.order_line.product_id][part.component_id] = part.quantity
    received: dict[int, Counter] = defaultdict(Counter)
    for line_id, product_id, units in (
        ReturnUnit.objects.filter(case=case, return_line__isnull=False)
        .order_by()
        .values_list("return_line_id", "product_id")
        .annotate(units=Count("pk"))
    ):
        received[line_id][product_id] = units
    return _parcel_case(case, lines, shipped, components, received)


def _parcel_case(case, lines, shipped, components, received) -> warehouse.ParcelCase:
    """`shipped`: {order line id: [(serial, lot)]}; `components`: {bundle product id:
    {component id: per bundle}}; `received`: {return line id: Counter(product id: units)}."""
    expected = []
    for line in lines:
        product_id = line.order_line.product_id
        parts = components[product_id]
        back = received[line.pk]
        items = shipped.get(line.order_line_id, [])
        expected.append(
            warehouse.ExpectedLine(
                return_line_id=line.pk,
                product_id=product_id,
                quantity=line.quantity,
                serials=frozenset(serial for serial, _lot in items if serial),
                lots=frozenset(lot for _serial, lot in items if lot),
                components=parts,
                received=back[product_id],
                components_received={pk: n for pk, n in back.items() if pk in parts and n},
            )
        )
    return warehouse.ParcelCase(
        case_id=case.pk,
        label=case.rma_number,
        sales_order=case.order,
        fully_received=case.state in FULLY_RECEIVED,
        lines=tuple(expected),
    )


def _case_locked(case_id: int) -> ReturnCase:
    return (
        ReturnCase.objects.select_for_update(of=("self",))
        .select_related("order", "customer")
        .get(pk=case_id)
    )


def _case_move(case: ReturnCase, name: str, *, actor: AbstractBaseUser, why: str) -> None:
    """Take transition `name` on the case this workflow call holds locked: the state and the
    actor's permission are checked as `returns.services` checks them, without looking the
    case up and locking it a second time inside a savepoint of its own (the hot paths)."""
    method = getattr(case, name)
    if not can_proceed(method):
        raise TransitionNotAllowed(
            f"This return is {case.get_state_display().lower()}: it cannot be "
            f"{services.PAST_TENSE[name]}.",
            object=case,
            method=method,
        )
    if not has_transition_perm(method, actor):
        raise PermissionDenied(f"You may not {name} returns.")
    method()
    # The case and its history row in one statement (the receipt's and inspection's hot path).
    update_with_history(case, actor=actor, why=why)


@transaction.atomic
def return_parcel_receive(
    *,
    case_id: int,
    warehouse_id: int,
    scans: Sequence[str | ScanResult],
    packaging_ok: bool,
    client_token: str,
    actor: AbstractBaseUser,
    close_short: bool = False,
    received_for: str = "",
) -> Receipt:
    """Receive one parcel of a case at a warehouse. `scans` are the codes read in the parcel,
    in order (strings are parsed here; a bad check digit is a ValidationError): item GTINs or
    GS1 labels, each serial-tracked item followed by its serial when its label carries none.
    `close_short`: the operator says no more parcels will come. `received_for`: the 3PL whose
    report this receipt posts (the actor is then the 3PL's service user).

    Effects: locks the case; the same client token returns the receipt it made. Otherwise
    `warehouse.services.receipt_record` (units, stock, quarantine, exceptions — see there,
    matched against what earlier parcels left outstanding). A case still authorized (the
    customer dropped the parcel at the door, no carrier scan) first moves to in transit, with
    the receiver and that reason in its history. When the parcel completes the case (or
    closes it short) the case moves to received (`returns.services.return_case_receive`:
    permission, state, customer message); when its refund triggers on receipt, it is
    evaluated for what came back so far. All or nothing: a refusal anywhere writes nothing.
    """
    case = _case_locked(case_id)
    parsed = [scan if isinstance(scan, ScanResult) else scan_parse(scan) for scan in scans]
    receipt = warehouse.receipt_record(
        case=parcel_case(case, client_token=client_token),
        warehouse_id=warehouse_id,
        scans=parsed,
        packaging_ok=packaging_ok,
        client_token=client_token,
        actor=actor,
        close_short=close_short,
        received_for=received_for,
    )
    if receipt.replayed:
        return receipt
    if case.state == ReturnState.AUTHORIZED:
        _arrived_without_carrier_scan(case, actor=actor, received_for=received_for)
    if receipt.completes_case and case.state != ReturnState.RECEIVED:
        # As `returns.services.return_case_receive`: the transition, then the message.
        _case_move(case, "receive", actor=actor, why="Received")
        services._message(case, services.Template.RECEIVED)
        if (
            not parsed
            and not ReturnUnit.objects.filter(case=case, state=UnitState.RECEIVED).exists()
        ):
            # Closed short with nothing more in hand: every unit was inspected already.
            _case_move(case, "inspect", actor=actor, why="Closed short")
    if case.refund_trigger == RefundTrigger.ON_RECEIPT:
        case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_RECEIPT, actor=actor)
    return receipt


def _arrived_without_carrier_scan(
    case: ReturnCase, *, actor: AbstractBaseUser, received_for: str
) -> None:
    """An authorized case whose parcel reached the warehouse with no carrier scan (dropped
    at the door): it is in transit as of now, and the history says who found it and why. The
    receiving permission the receipt checked covers it; the caller holds the case's lock."""
    where = f" by {received_for}" if received_for else " at the bench"
    case.ship(carrier=case.carrier or "Customer drop-off", tracking_number=case.tracking_number)
    save_with_history(
        case, actor=actor, why=f"Parcel received{where} without a carrier scan (dropped off)"
    )


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
    checklist: ChecklistTemplate | None = None,
) -> Inspection:
    """Inspect one received unit. `checklist`: the one the form was built from, if the caller
    read it (`warehouse.services.checklist_for`).

    Effects: locks the unit's case (so two tablets finishing the last two units see each
    other); `warehouse.services.inspection_record` (see there); when no unit of the case waits
    for inspection any more, the case moves to inspected (`return_case_inspect`).
    """
    case = _case_locked_by_unit(unit_id)
    inspection = warehouse.inspection_record(
        unit_id=unit_id,
        answers=answers,
        grade=grade,
        notes=notes,
        photos=photos,
        client_token=client_token,
        actor=actor,
        checklist=checklist,
    )
    if inspection.replayed:
        return inspection
    waiting = ReturnUnit.objects.filter(case=case, state=UnitState.RECEIVED).exists()
    if case.state == ReturnState.RECEIVED and not waiting:
        # As `returns.services.return_case_inspect`, on the case held locked.
        _case_move(case, "inspect", actor=actor, why="Every unit inspected")
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


def _case_locked_by_unit(unit_id: int) -> ReturnCase:
    """The unit's case, locked, in one query (ReturnUnit.DoesNotExist when no such unit)."""
    case = (
        ReturnCase.objects.select_for_update(of=("self",))
        .select_related("order", "customer")
        .filter(warehouse_units=unit_id)
        .first()
    )
    if case is None:
        raise ReturnUnit.DoesNotExist(f"No return unit {unit_id}.")
    return case


def _case_of(unit_id: int) -> int:
    return ReturnUnit.objects.values_list("case_id", flat=True).get(pk=unit_id)


def _evaluate_when_decided(case: ReturnCase, *, actor: AbstractBaseUser) -> None:
    undecided = ReturnUnit.objects.filter(Q(case=case) & ~Q(state=UnitState.DISPOSITIONED)).exists()
    if not undecided:
        case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_INSPECTION, actor=actor)
