"""Carrier tracking events (EasyPost, AfterShip, Shippo) → return case milestones.

Registered as inbox handlers in `ReturnsConfig.ready()`. The inbox stores every delivery once;
this module makes each carrier report have one effect on the case, whatever order the reports
arrive in: the case only ever moves forward (authorized → in transit → delivered), a
"delivered" arriving first moves it through both, and an older report after a newer one is
recorded on the timeline without moving anything back.

A batch of reports (`erp.services.inbox_batch`) reads the cases, their newest milestones and
the reports already recorded for all its events at once (`carrier_tracking_prepare`), with the
cases locked in id order; each event still has its own effect, once.
"""

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

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


class _Candidate(NamedTuple):
    case_id: int
    requested_at: datetime
    carrier: str


class _Milestone(NamedTuple):
    occurred_at: datetime
    kind: str


@dataclass(frozen=True)
class _TrackingLookups:
    """What a batch of carrier reports look up, read once for the batch; `cases`, `newest` and
    `recorded` follow the batch's own writes."""

    candidates: dict[str, list[_Candidate]]  # tracking number → cases shipped or labelled so
    cases: dict[int, ReturnCase]  # the chosen cases, locked
    newest: dict[int, _Milestone]  # case → its newest movement or trouble milestone
    recorded: set[tuple[int, str]]  # (case, dedupe key) already on a timeline
    # Milestones of reports applied in this run, in arrival order: one multi-row INSERT when
    # the run ends instead of one each (nothing in the run reads them back from the table).
    milestones: list[ReturnCaseEvent] = field(default_factory=list)


_tracking_batch: ContextVar[_TrackingLookups | None] = ContextVar("tracking_batch", default=None)


def _candidates(numbers: set[str]) -> dict[str, list[_Candidate]]:
    """For each tracking number, the cases shipped under it and those labelled with it."""
    found: dict[str, list[_Candidate]] = {}
    for number, *row in ReturnCase.objects.filter(tracking_number__in=numbers).values_list(
        "tracking_number", "pk", "requested_at", "carrier"
    ):
        found.setdefault(number, []).append(_Candidate(*row))
    for number, *row in ReturnCaseEvent.objects.filter(
        kind=ExternalEventKind.LABEL, tracking_number__in=numbers
    ).values_list("tracking_number", "case_id", "case__requested_at", "carrier"):
        found.setdefault(number, []).append(_Candidate(*row))
    return found


def _choose(update: TrackingUpdate, candidates: list[_Candidate]) -> _Candidate:
    """The case a report is about; parks the event when there is none.

    Several cases under one number (a reused number) are told apart by carrier, then the
    most recently requested one wins."""
    ordered = sorted(candidates, key=lambda c: (c.requested_at, c.case_id), reverse=True)
    same_carrier = [
        c for c in ordered if not c.carrier or carrier_key(c.carrier) == carrier_key(update.carrier)
    ]
    chosen = (same_carrier or ordered)[:1]
    if not chosen:
        raise InboundEventParked(
            f"No return case has tracking number {update.tracking_number} "
            f"({update.carrier or 'carrier unknown'}): record it on the case, then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"tracking {update.tracking_number}",
        )
    return chosen[0]


def _case_for(update: TrackingUpdate, known: _TrackingLookups | None) -> tuple[ReturnCase, str]:
    """The case shipped (or labelled) under this tracking number, locked, with the carrier
    name we know it by; parks the event when there is none."""
    number = update.tracking_number
    if known is not None:
        chosen = _choose(update, known.candidates.get(number, []))
        case = known.cases[chosen.case_id]
    else:
        chosen = _choose(update, _candidates({number}).get(number, []))
        case = ReturnCase.objects.select_for_update(of=("self",)).get(pk=chosen.case_id)
    # The carrier as we named it (on the case or its label) reads better than a feed's slug.
    return case, chosen.carrier or update.carrier or update.provider


def _latest(case_ids: set[int]) -> dict[int, _Milestone]:
    """Each case's newest movement or trouble milestone."""
    newest: dict[int, _Milestone] = {}
    for case_id, *row in (
        ReturnCaseEvent.objects.filter(case_id__in=case_ids, kind__in=[*MOVING, *TROUBLE])
        .order_by("case_id", "-occurred_at", "-pk")
        .values_list("case_id", "occurred_at", "kind")
    ):
        newest.setdefault(case_id, _Milestone(*row))
    return newest


def _occurred_at(event: InboundEvent, message: TrackingUpdate) -> datetime:
    return message.occurred_at or event.occurred_at or event.received_at


def _dedupe_key(message: TrackingUpdate, occurred_at: datetime) -> str:
    return (
        f"carrier:{message.provider}:{message.tracking_number}:{message.status}:"
        f"{occurred_at.isoformat()}"
    )[:200]


@contextmanager
def carrier_tracking_prepare(pairs: list[tuple[InboundEvent, TrackingUpdate]]):
    """Inside: `carrier_tracking_apply` finds, for these reports, the candidate cases (two
    queries), the chosen cases locked in id order (one), their newest milestones (one) and the
    reports already recorded (one), instead of five queries and two savepoints per report.

    Effects: locks the cases the reports are about (a report whose number no case has is left
    for the handler to park); on leaving without an error, inserts the milestones of the
    reports applied inside, in their order, in one statement (the cases are locked and their
    recorded reports known, so none can collide), before the batch's next run may read them.
    A report that raised added none, and an error inside discards them with the batch's pass.
    """
    candidates = _candidates({message.tracking_number for _, message in pairs})
    chosen = set()
    for _, message in pairs:
        rows = candidates.get(message.tracking_number)
        if rows:
            chosen.add(_choose(message, rows).case_id)
    cases = {
        case.pk: case
        for case in ReturnCase.objects.select_related("order", "customer")
        .select_for_update(of=("self",))
        .filter(pk__in=chosen)
        .order_by("pk")
    }
    keys = {_dedupe_key(message, _occurred_at(event, message)) for event, message in pairs}
    recorded = set(
        ReturnCaseEvent.objects.filter(case_id__in=chosen, dedupe_key__in=keys).values_list(
            "case_id", "dedupe_key"
        )
    )
    known = _TrackingLookups(candidates, cases, _latest(chosen), recorded)
    token = _tracking_batch.set(known)
    try:
        # Locked just now and kept current below: the cases' moves need not read them again.
        with services.return_cases_held(cases):
            yield
    finally:
        _tracking_batch.reset(token)
    if known.milestones:
        ReturnCaseEvent.objects.bulk_create(known.milestones)


def carrier_tracking_footprint(pairs: list[tuple[InboundEvent, TrackingUpdate]]) -> list[set]:
    """For `erp.services.inbox_schedule`: each report touches its parcel's tracking number and
    every case that number names now (one lookup for the batch, two queries)."""
    candidates = _candidates({message.tracking_number for _, message in pairs})
    return [
        {
            ("tracking", message.tracking_number),
            *(("case", c.case_id) for c in candidates.get(message.tracking_number, [])),
        }
        for _, message in pairs
    ]


def return_cases_lock_free(case_ids: set[int]) -> set[int]:
    """For `erp.services.inbox_schedule`, as a batch starts: lock, in id order, those of
    `case_ids` no other transaction holds, without waiting for the others; returns the
    others (their reports apply at the end of the batch)."""
    free = (
        ReturnCase.objects.select_for_update(skip_locked=True)
        .filter(pk__in=case_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return case_ids - set(free)


def _move(
    case: ReturnCase, kind: str, update: TrackingUpdate, carrier: str
) -> tuple[str, ReturnCase]:
    """Move the case forward as far as this milestone proves; say what changed, and return
    the case as it now is."""
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
        case = services.return_case_mark_delivered(case_id=case.pk, actor=None)
        moved.append("delivered")
    if moved:
        return "Case moved to " + " then ".join(moved), case
    if kind in MOVING:
        return f"Nothing to move: the case is {case.get_state_display().lower()}", case
    return "", case


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


# No savepoint of its own: the inbox runs each handler inside one (or rolls a whole batch
# back), so a second would only cost two more round trips per report.
@transaction.atomic(savepoint=False)
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
    the carrier gives is kept on the milestone (the newest one is the case's ETA). In a
    batch, the lookups come from `carrier_tracking_prepare`.
    """
    known = _tracking_batch.get()
    case, carrier = _case_for(message, known)
    try:
        _tracking_report_apply(event, message, case, carrier, known)
    except BaseException:
        if known is not None:
            # Its writes are rolled back with it: the batch's case is again the one it had.
            known.cases[case.pk] = case
        raise


def _tracking_report_apply(
    event: InboundEvent,
    message: TrackingUpdate,
    case: ReturnCase,
    carrier: str,
    known: _TrackingLookups | None,
) -> None:
    kind = MILESTONES.get(message.status, ExternalEventKind.TRACKING)
    occurred_at = _occurred_at(event, message)
    newest = known.newest.get(case.pk) if known else _latest({case.pk}).get(case.pk)
    record = ReturnCaseEvent(
        case=case,
        source=message.provider,
        kind=kind,
        dedupe_key=_dedupe_key(message, occurred_at),
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
    if known is None:
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:
            return  # the same report, delivered again under another id: one effect
    elif (case.pk, record.dedupe_key) in known.recorded:
        return  # the case is locked and its reports read since: a repeat, one effect
    if (
        newest is not None
        and newest.occurred_at > occurred_at
        and kind != ExternalEventKind.TRACKING
    ):
        # An older report arriving late: the newer one already decided where the case is.
        label = ExternalEventKind(newest.kind).label.lower()
        applied = f"Older than the {label} report: not applied"
    elif kind in TROUBLE:
        applied = _report_trouble(case, kind, message, event.pk)
    else:
        applied, case = _move(case, kind, message, carrier)
    record.applied = applied[:200]
    if known is None:
        if applied:
            record.save(update_fields=["applied"])
        return
    # In a batch the report is new (checked above, under the case's lock): its milestone,
    # with what it applied, goes in with the run's others, and the batch's view of the case is
    # kept current for its next report. Last, so that a report that raised added nothing.
    known.milestones.append(record)
    known.recorded.add((case.pk, record.dedupe_key))
    known.cases[case.pk] = case
    if kind in (*MOVING, *TROUBLE) and (newest is None or occurred_at >= newest.occurred_at):
        known.newest[case.pk] = _Milestone(occurred_at, kind)


def carrier_handlers_register() -> None:
    """Effects: none on the database; carrier tracking events apply to return cases."""
    from erp.services.inbox import inbox_handler_register
    from erp.services.inbox_batch import inbox_batch_preparer_register
    from erp.services.inbox_schedule import (
        inbox_batch_footprint_register,
        inbox_batch_locker_register,
    )

    inbox_batch_locker_register(kind="case", locker=return_cases_lock_free)
    # EasyPost also announces a new tracker with its first status (tracker.created).
    for source, topic in [*CARRIER_SOURCES.items(), (InboundSource.EASYPOST, "tracker.created")]:
        inbox_handler_register(source=source, topic=topic, handler=carrier_tracking_apply)
        inbox_batch_preparer_register(source=source, topic=topic, preparer=carrier_tracking_prepare)
        inbox_batch_footprint_register(
            source=source, topic=topic, footprint=carrier_tracking_footprint
        )
