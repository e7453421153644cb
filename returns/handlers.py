"""Carrier tracking events (EasyPost, AfterShip, Shippo) → return case milestones.

Registered as inbox handlers in `ReturnsConfig.ready()`. The inbox stores every delivery once;
this module makes each carrier report have one effect on the case, whatever order the reports
arrive in: the case only ever moves forward (authorized → in transit → delivered), a
"delivered" arriving first moves it through both, and an older report after a newer one is
recorded on the timeline without moving anything back.
"""

import re
from datetime import datetime

from django.db import IntegrityError, transaction

from erp.adapters.carriers import TrackingUpdate
from erp.models import InboundEvent
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundSource
from erp.services import exception_open
from erp.services.inbox import InboundEventParked

from . import services
from .models import ExternalEventKind, ReturnCase, ReturnCaseEvent, ReturnState

# Canonical carrier statuses (carrier_status_canonical_map.tsv) → the milestone they record.
MILESTONES = {
    "IN_TRANSIT": ExternalEventKind.IN_TRANSIT,
    "OUT_FOR_DELIVERY": ExternalEventKind.OUT_FOR_DELIVERY,
    "AVAILABLE_FOR_PICKUP": ExternalEventKind.OUT_FOR_DELIVERY,
    "DELIVERY_ATTEMPT_FAILED": ExternalEventKind.OUT_FOR_DELIVERY,
    "DELIVERED": ExternalEventKind.DELIVERED,
    "RETURNING_TO_SENDER": ExternalEventKind.RETURNED_TO_SENDER,
    "EXCEPTION": ExternalEventKind.FAILURE,
}
# Milestones that prove the parcel left the customer: an authorized case is then in transit.
MOVING = (
    ExternalEventKind.IN_TRANSIT,
    ExternalEventKind.OUT_FOR_DELIVERY,
    ExternalEventKind.DELIVERED,
)
# Milestones that need a person: the parcel is not coming, or something went wrong on the way.
TROUBLE = (ExternalEventKind.RETURNED_TO_SENDER, ExternalEventKind.FAILURE)
# Once the warehouse has the parcel, carrier trouble is history, not an exception.
BEFORE_RECEIPT = (ReturnState.AUTHORIZED, ReturnState.IN_TRANSIT, ReturnState.DELIVERED)
CARRIER_SOURCES = {
    InboundSource.EASYPOST: "tracker.updated",
    InboundSource.AFTERSHIP: "tracking_update",
    InboundSource.SHIPPO: "track_updated",
}


def carrier_key(name: str) -> str:
    """'UPS', 'ups' and 'U.P.S.' are the same carrier."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _case_for(update: TrackingUpdate) -> tuple[ReturnCase, str]:
    """The case shipped (or labelled) under this tracking number, locked, with the carrier
    name we know it by; parks the event when there is none.

    Several cases under one number (a reused number) are told apart by carrier, then the
    most recently requested one wins."""
    # (case id, requested at, carrier) for the case's own number and for labels issued for it.
    candidates = list(
        ReturnCase.objects.filter(tracking_number=update.tracking_number).values_list(
            "pk", "requested_at", "carrier"
        )
    ) + list(
        ReturnCaseEvent.objects.filter(
            kind=ExternalEventKind.LABEL, tracking_number=update.tracking_number
        ).values_list("case_id", "case__requested_at", "carrier")
    )
    candidates.sort(key=lambda row: (row[1], row[0]), reverse=True)
    same_carrier = [
        row
        for row in candidates
        if not row[2] or carrier_key(row[2]) == carrier_key(update.carrier)
    ]
    chosen = (same_carrier or candidates)[:1]
    if not chosen:
        raise InboundEventParked(
            f"No return case has tracking number {update.tracking_number} "
            f"({update.carrier or 'carrier unknown'}): record it on the case, then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"tracking {update.tracking_number}",
        )
    case = ReturnCase.objects.select_for_update(of=("self",)).get(pk=chosen[0][0])
    # The carrier as we named it (on the case or its label) reads better than a feed's slug.
    return case, chosen[0][2] or update.carrier or update.provider


def _latest(case: ReturnCase) -> ReturnCaseEvent | None:
    return (
        ReturnCaseEvent.objects.filter(case=case, kind__in=[*MOVING, *TROUBLE])
        .order_by("-occurred_at", "-pk")
        .first()
    )


def _move(case: ReturnCase, kind: str, update: TrackingUpdate, carrier: str) -> str:
    """Move the case forward as far as this milestone proves; say what changed."""
    moved = []
    if kind in MOVING and case.state == ReturnState.AUTHORIZED:
        case = services.return_case_ship(
            case_id=case.pk,
            actor=None,
            carrier=carrier,
            tracking_number=update.tracking_number,
        )
        moved.append("in transit")
    if kind == ExternalEventKind.DELIVERED and case.state == ReturnState.IN_TRANSIT:
        services.return_case_mark_delivered(case_id=case.pk, actor=None)
        moved.append("delivered")
    if moved:
        return "Case moved to " + " then ".join(moved)
    if kind in MOVING:
        return f"Nothing to move: the case is {case.get_state_display().lower()}"
    return ""


def _report_trouble(case: ReturnCase, kind: str, update: TrackingUpdate, event_id: int) -> str:
    if case.state not in BEFORE_RECEIPT:
        return f"No exception: the case is {case.get_state_display().lower()}"
    label = ExternalEventKind(kind).label.split(": ", 1)[-1]
    exception = exception_open(
        kind=ExceptionKind.DAMAGED_IN_TRANSIT,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=case.pk,
        subject_label=case.rma_number,
        summary=f"{case.rma_number}: {label} ({update.carrier} {update.tracking_number})",
        details=(
            f"{update.provider} reported {update.provider_status!r}"
            + (f" ({update.status_detail})" if update.status_detail else "")
            + (f" at {update.occurred_at:%Y-%m-%d %H:%M} UTC" if update.occurred_at else "")
            + ". Contact the customer and the carrier."
        ),
        evidence={
            "provider": update.provider,
            "carrier": update.carrier,
            "tracking_number": update.tracking_number,
            "provider_status": update.provider_status,
            "status_detail": update.status_detail,
            "occurred_at": update.occurred_at.isoformat() if update.occurred_at else None,
            "inbound_event_id": event_id,
        },
        sales_order=case.order,
    )
    return f"Exception #{exception.pk} ({exception.get_kind_display().lower()})"


@transaction.atomic
def carrier_tracking_apply(*, event: InboundEvent, message: TrackingUpdate) -> None:
    """Record a carrier's tracking report on its return case and move the case along.

    Effects: parks the event (InboundEventParked, with an exception) when no case carries the
    tracking number, by the case's own tracking number or a label issued for it. Otherwise
    locks the case and records the milestone once (a report already recorded, from this
    delivery or another with the same status and time, changes nothing); then, unless a
    newer milestone is already recorded: in transit / out for delivery / delivered move an
    authorized case to in transit (with carrier and tracking number), delivered moves it on
    to delivered; returning to sender or a carrier failure opens a damaged_in_transit
    exception with the report as evidence while the parcel has not been received. The ETA
    the carrier gives is kept on the milestone (the newest one is the case's ETA).
    """
    case, carrier = _case_for(message)
    kind = MILESTONES.get(message.status, ExternalEventKind.TRACKING)
    occurred_at: datetime = message.occurred_at or event.occurred_at or event.received_at
    newest = _latest(case)
    record = ReturnCaseEvent(
        case=case,
        source=message.provider,
        kind=kind,
        dedupe_key=(
            f"carrier:{message.provider}:{message.tracking_number}:{message.status}:"
            f"{occurred_at.isoformat()}"
        ),
        occurred_at=occurred_at,
        carrier=message.carrier,
        tracking_number=message.tracking_number,
        eta=message.eta,
        detail=" · ".join(
            part for part in (message.provider_status, message.status_detail) if part
        ),
        data={"status": message.status, "reference": message.reference},
        inbound_event_id=event.pk,
    )
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        return  # the same report, delivered again under another id: one effect
    if (
        newest is not None
        and newest.occurred_at > occurred_at
        and kind != ExternalEventKind.TRACKING
    ):
        # An older report arriving late: the newer one already decided where the case is.
        applied = f"Older than the {newest.get_kind_display().lower()} report: not applied"
    elif kind in TROUBLE:
        applied = _report_trouble(case, kind, message, event.pk)
    else:
        applied = _move(case, kind, message, carrier)
    if applied:
        record.applied = applied[:200]
        record.save(update_fields=["applied"])


def carrier_handlers_register() -> None:
    """Effects: none on the database; carrier tracking events apply to return cases."""
    from erp.services.inbox import inbox_handler_register

    for source, topic in CARRIER_SOURCES.items():
        inbox_handler_register(source=source, topic=topic, handler=carrier_tracking_apply)
    # EasyPost also announces a new tracker with its first status.
    inbox_handler_register(
        source=InboundSource.EASYPOST, topic="tracker.created", handler=carrier_tracking_apply
    )
