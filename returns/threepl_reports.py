"""A 3PL's returns report rows → receipts and dispositions of our return cases.

Registered as inbox handlers in `ReturnsConfig.ready()` for each 3PL source (ShipHero, ShipBob,
Extensiv; topic returns_report). A row names the case (our RMA, or the channel's order), the
SKU, and — once the 3PL has decided — its grade and disposition (docs/3pl_returns_report.md):
- the receipt goes through `workflow.return_parcel_receive`, as the warehouse's own bench
  would post it, for the 3PL warehouse the report came from; its client token is the row's
  receipt identity, so a row re-reported with its disposition never receives twice;
- the disposition goes through `warehouse.services.threepl_reports.threepl_unit_decide`;
  PROCESSING_REQUIRED and an unmapped disposition leave the unit pending (the reconciliation
  explains it, and reports it late after the SLA); MISSING closes the case short;
- an unknown RMA or order parks as channel_dispute, an unknown SKU as investigate_sku.
"""

import hashlib

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from erp.adapters.threepl_returns import RETURNS_TOPIC, ThreePLReturnRow
from erp.models import InboundEvent, Product, Warehouse
from erp.models.exceptions import ExceptionKind
from erp.models.inbox import InboundSource
from erp.services.inbox import InboundEventParked
from warehouse.models import Receipt, ReturnUnit, UnitState
from warehouse.scan import ScanKind, ScanResult
from warehouse.services.threepl_reports import threepl_outcome, threepl_unit_decide

from . import services, workflow
from .channel_events import _record
from .models import ExternalEventKind, RefundTrigger, ReturnCase, ReturnState
from .refunds import case_refund_evaluate

SOURCES = (InboundSource.SHIPHERO, InboundSource.SHIPBOB, InboundSource.EXTENSIV)
# What the 3PL's service user may do: receive, grade and decide returned units at its site.
ACTOR_PERMISSIONS = (
    ("warehouse", "receive_parcel"),
    ("warehouse", "inspect_unit"),
    ("warehouse", "disposition_unit"),
    ("returns", "receive_return"),
    ("returns", "inspect_return"),
    ("returns", "record_return_shipment"),
)
# A receipt posts against a case the customer may be sending back (or that arrived).
RECEIVABLE = (
    ReturnState.AUTHORIZED,
    ReturnState.IN_TRANSIT,
    ReturnState.DELIVERED,
    ReturnState.RECEIVED,
    ReturnState.INSPECTED,
)


def threepl_actor(warehouse: Warehouse) -> AbstractBaseUser:
    """The service account a 3PL acts as (history says who). It cannot log in."""
    user, created = get_user_model().objects.get_or_create(
        username=f"3pl:{warehouse.code}"[:150],
        defaults={"first_name": warehouse.name[:150], "is_active": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        wanted = Q()
        for app, codename in ACTOR_PERMISSIONS:
            wanted |= Q(content_type__app_label=app, codename=codename)
        user.user_permissions.add(*Permission.objects.filter(wanted))
        user = get_user_model().objects.get(pk=user.pk)  # drop the cached permissions
    return user


def _warehouse(event: InboundEvent) -> Warehouse:
    warehouse = Warehouse.objects.filter(
        code=event.account, operator=Warehouse.Operator.THIRD_PARTY, provider=event.source
    ).first()
    if warehouse is None:
        raise InboundEventParked(
            f"No {event.get_source_display()} warehouse has the code {event.account!r}: set "
            "the warehouse's operator and provider, then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"warehouse {event.account}",
        )
    return warehouse


def _case(warehouse: Warehouse, row: ThreePLReturnRow) -> ReturnCase:
    """The case by our RMA, else the newest live case on the order that has this SKU."""
    cases = ReturnCase.objects.all()
    if row.rma:
        case = cases.filter(rma_number=row.rma).first()
    else:
        case = (
            cases.filter(order__number=row.order_ref, lines__order_line__product__sku=row.sku)
            .exclude(state__in=(ReturnState.CANCELLED, ReturnState.EXPIRED, ReturnState.REJECTED))
            .order_by("-requested_at", "-pk")
            .first()
        )
    if case is None:
        raise InboundEventParked(
            f"{warehouse.name} reports a return under {row.return_ref} ({row.sku}) that matches "
            "no return case here: find the case (or open it), then replay.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=f"{warehouse.code} {row.return_ref}",
        )
    return case


def _product(warehouse: Warehouse, row: ThreePLReturnRow) -> Product:
    product = Product.objects.filter(sku=row.sku).first()
    if product is None:
        raise InboundEventParked(
            f"{warehouse.name} reports SKU {row.sku!r} returned under {row.return_ref}, and no "
            "product has that SKU: add it (or fix the 3PL's item), then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"{warehouse.code} SKU {row.sku}",
        )
    if not product.gtin:
        raise InboundEventParked(
            f"{product.sku} has no GTIN, which receiving matches items by: add it to the "
            "product, then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"{warehouse.code} SKU {row.sku}",
        )
    return product


def _receive(case, warehouse, product, row, *, actor, provider: str) -> str:
    """Post the row's receipt once; say what it did."""
    if Receipt.objects.filter(client_token=row.receipt_key).exists():
        return ""
    if case.state not in RECEIVABLE:
        raise InboundEventParked(
            f"{case.rma_number} is {case.get_state_display().lower()}: {warehouse.name}'s "
            "receipt cannot post against it. Settle the case, then replay.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=case.rma_number,
        )
    if case.state in workflow.FULLY_RECEIVED:
        return f"Receipt not posted: {case.rma_number} was already received"
    missing = row.canonical_disposition == "MISSING"
    scan = ScanResult(
        kind=ScanKind.GTIN, raw=row.sku, gtin=product.gtin, lot=row.lot, serial=row.serial
    )
    try:
        receipt = workflow.return_parcel_receive(
            case_id=case.pk,
            warehouse_id=warehouse.pk,
            scans=[] if missing else [scan] * row.quantity,
            packaging_ok=True,
            client_token=row.receipt_key,
            actor=actor,
            close_short=missing,
            received_for=provider,
        )
    except ValidationError as error:
        raise InboundEventParked(
            f"{warehouse.name}'s receipt of {row.sku} under {case.rma_number} cannot post: "
            f"{'; '.join(error.messages)}",
            kind=ExceptionKind.SKU_MISMATCH,
            subject_label=case.rma_number,
        ) from error
    if missing:
        return f"Closed {case.rma_number} short: the 3PL reports the item missing"
    return f"Received {receipt.units.count()} unit(s) at {warehouse.name}"


def _units_to_decide(case, warehouse, product, row) -> list[int]:
    """The case's undecided units of this SKU at this warehouse (this row's receipt first)."""
    units = ReturnUnit.objects.filter(
        case=case,
        product=product,
        receipt__warehouse=warehouse,
        state__in=(UnitState.RECEIVED, UnitState.INSPECTING),
    )
    if row.serial:
        units = units.filter(serial=row.serial)
    if row.lot:
        units = units.filter(lot=row.lot)
    ordered = sorted(
        units.values_list("pk", "receipt__client_token"),
        key=lambda pair: (pair[1] != row.receipt_key, pair[0]),
    )
    return [pk for pk, _token in ordered[: row.quantity]]


def _decide(case, warehouse, product, row, *, event, actor, provider: str) -> str:
    canonical = row.canonical_disposition
    if not canonical:
        return "Disposition not reported yet"
    outcome = threepl_outcome(canonical)
    if outcome is None:
        if canonical == "UNKNOWN":
            return f"Disposition {row.disposition!r} is not in the map: the unit stays pending"
        if canonical == "PENDING_INSPECTION":
            return "The 3PL is still processing it: the unit stays pending"
        return ""
    decided, held = 0, 0
    for unit_id in _units_to_decide(case, warehouse, product, row):
        token = hashlib.sha256(f"{event.source}:{event.external_id}:{unit_id}".encode())
        try:
            threepl_unit_decide(
                unit_id=unit_id,
                outcome=outcome,
                grade=row.grade,
                reported=f"{provider}: {row.disposition}",
                client_token="3pld:" + token.hexdigest()[:56],
                actor=actor,
            )
        except ValidationError as error:
            if getattr(error, "code", "") != "quarantined":
                raise
            held += 1
            continue
        decided += 1
    if not decided and not held:
        return "No undecided unit of this SKU is here to apply the disposition to"
    _case_after_decisions(case, actor=actor)
    what = f"{decided} unit(s) dispositioned: {outcome.replace('_', ' ')}"
    if held:
        what += f"; {held} in quarantine, for a manager to release"
    return what


def _case_after_decisions(case: ReturnCase, *, actor) -> None:
    """As the bench's workflow: inspected once no unit waits, refund once all are decided."""
    units = ReturnUnit.objects.filter(case=case)
    case.refresh_from_db(fields=["state"])
    if case.state == ReturnState.RECEIVED and not units.filter(state=UnitState.RECEIVED).exists():
        services.return_case_inspect(case_id=case.pk, actor=actor, note="Inspected by the 3PL")
    if not units.exclude(state=UnitState.DISPOSITIONED).exists():
        case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_INSPECTION, actor=actor)


@transaction.atomic
def threepl_return_apply(*, event: InboundEvent, message: ThreePLReturnRow) -> None:
    """Apply one row of a 3PL returns report to its return case.

    Effects: parks the event (with an exception) when the warehouse is not that 3PL's, the
    RMA / order names no case (channel_dispute), the SKU is unknown or has no GTIN
    (investigate_sku), the case cannot take a receipt, or the receipt is refused. Otherwise,
    as the 3PL's service user: posts the row's receipt once (`return_parcel_receive` with the
    row's receipt identity as client token; MISSING closes the case short instead); applies
    a mapped disposition to the case's undecided units of that SKU at the warehouse
    (`threepl_unit_decide`), then moves the case to inspected and evaluates its refund as
    the bench would; records the row once on the case's timeline with what it changed.
    """
    warehouse = _warehouse(event)
    case = _case(warehouse, message)
    product = _product(warehouse, message)
    actor = threepl_actor(warehouse)
    provider = warehouse.get_provider_display()
    received = _receive(case, warehouse, product, message, actor=actor, provider=provider)
    decided = _decide(
        case, warehouse, product, message, event=event, actor=actor, provider=provider
    )
    _record(
        case,
        kind=(
            ExternalEventKind.CHANNEL_DISPOSED
            if message.disposition
            else ExternalEventKind.CHANNEL_REPORTED
        ),
        dedupe_key=f"3pl:{event.external_id}",
        event=event,
        source=event.source,
        detail=" — ".join(
            part
            for part in (
                f"{message.quantity} × {message.sku}",
                message.serial,
                message.lot,
                f"grade {message.condition}" if message.condition else "",
                message.disposition,
                message.notes,
            )
            if part
        ),
        applied=". ".join(part for part in (received, decided) if part),
        data={
            "report": RETURNS_TOPIC,
            "warehouse": warehouse.code,
            "rma": message.rma,
            "order_ref": message.order_ref,
            "sku": message.sku,
            "quantity": message.quantity,
            "serial": message.serial,
            "lot": message.lot,
            "condition": message.condition,
            "disposition": message.disposition,
            "canonical_disposition": message.canonical_disposition,
            "reference": message.reference,
        },
    )


def threepl_handlers_register() -> None:
    """Effects: none on the database; 3PL returns report rows apply to cases."""
    from erp.services.inbox import inbox_handler_register

    for source in SOURCES:
        inbox_handler_register(source=source, topic=RETURNS_TOPIC, handler=threepl_return_apply)
