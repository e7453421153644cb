"""Shopify's returns lifecycle and refunds → our return cases.

Registered as inbox handlers in `ReturnsConfig.ready()`. A Shopify return request opens a case
through the same service and policy as the CS screen; the channel's later decisions are
applied when our workflow allows them and always recorded on the case's timeline.

Decisions taken here (README of the behaviour):
- approve → authorize, decline → reject, cancel → cancel, when the case is still in a state
  that allows it; otherwise the event is recorded with why nothing changed (our policy may
  already have authorized it; a parcel on its way cannot be cancelled).
- close is recorded only: Shopify closes a return once it is refunded, but our case closes
  after the warehouse has inspected what came back, never on the channel's word.
- reopen is recorded only, for the agent to see.
- refunds/create is recorded on the case as a channel-issued refund; no money moves here.
- An event about a return we have not seen yet (e.g. approve arriving before request) is
  retried by the inbox with backoff until the request has been applied.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django_fsm import TransitionNotAllowed

from erp.adapters.amazon import CustomerReturnRow
from erp.adapters.base import body_digest
from erp.adapters.shopify import (
    DISPOSE_TOPIC,
    RETURN_UPDATE_TOPIC,
    REVERSE_DELIVERY_TOPIC,
    ShopifyDisposal,
    ShopifyRefund,
    ShopifyReturn,
    ShopifyReturnUpdate,
    ShopifyReverseDelivery,
)
from erp.models import (
    Channel,
    ChannelListing,
    InboundEvent,
    OrderLine,
    Product,
    ReasonCode,
    ReasonCodeMapping,
    SalesOrder,
)
from erp.models.exceptions import ExceptionKind
from erp.models.inbox import InboundSource
from erp.services.inbox import InboundEventParked
from erp.services.master_data import platform_reason_map

from . import services
from .models import (
    ChannelReturn,
    ClaimedCondition,
    ExternalEventKind,
    Resolution,
    ReturnCase,
    ReturnCaseEvent,
    ReturnState,
    Source,
)
from .models.cases import CANCELLABLE_STATES, VOID_STATES

SOURCE = InboundSource.SHOPIFY
CREATE_PERMISSION = ("returns", "add_returncase")
# What the customer's stated reason says about the item's condition; Shopify sends no
# condition of its own.
CONDITION_BY_REASON = {
    "DEFECTIVE_OR_DAMAGED": ClaimedCondition.DEFECTIVE,
    "DAMAGED_IN_TRANSIT": ClaimedCondition.DAMAGED,
}
RESOLUTION_PREFERENCE = (Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE)


class ChannelReturnNotYetKnown(Exception):
    """The return's request has not been applied yet; the inbox retries this event later."""


def channel_actor(channel: Channel) -> AbstractBaseUser:
    """The service account a channel acts as when it opens a case (history says who).

    It cannot log in (no usable password) and holds only the permission to open cases."""
    user, created = get_user_model().objects.get_or_create(
        username=f"channel:{channel.code}"[:150],
        defaults={"first_name": channel.name[:150], "is_active": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label=CREATE_PERMISSION[0], codename=CREATE_PERMISSION[1]
            )
        )
        user = get_user_model().objects.get(pk=user.pk)  # drop the cached permissions
    return user


@dataclass(frozen=True)
class _RequestLookups:
    """What a batch of returns/request events look up, read once for the batch; `linked`
    follows the batch's own writes."""

    channels: dict[str, Channel]
    linked: set[tuple[int, str]]  # (channel, Shopify return id) already linked to a case
    orders: dict[tuple[int, str], SalesOrder]  # (channel, order number) → order
    lines: dict[tuple[int, str], OrderLine]  # (order, Shopify line item id) → order line
    reasons: dict[tuple[int, str], str]  # (channel, raw reason) → our code, by its mapping
    active_reasons: set[str]  # our active reason codes
    actors: dict[int, AbstractBaseUser]  # channel → its service account, if it exists
    # Timeline records of the cases opened in this run, inserted together when it ends.
    records: list[ReturnCaseEvent] = field(default_factory=list)
    # Their links to the Shopify returns, likewise: one INSERT for the run, not one a case.
    links: list[ChannelReturn] = field(default_factory=list)


_request_batch: ContextVar[_RequestLookups | None] = ContextVar("request_batch", default=None)


def _channel(event: InboundEvent) -> Channel:
    known = _request_batch.get()
    channel = known.channels.get(event.account) if known else None
    channel = channel or Channel.objects.filter(code=event.account).first()
    if channel is None:
        raise InboundEventParked(
            f"No channel has the code {event.account!r}: the webhook URL names an unknown "
            "channel. Create it (or fix the URL), then replay.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=f"channel {event.account}",
        )
    return channel


def _reason_code(channel: Channel, raw: str) -> str:
    """Our reason code for a channel's raw one: the channel's own mapping, then the platform's
    shipped map, then our code of the same name; parks the event when none applies."""
    known = _request_batch.get()
    if known is not None and channel.pk in {c.pk for c in known.channels.values()}:
        mapped = known.reasons.get((channel.pk, raw))
    else:
        known = None
        mapped = (
            ReasonCodeMapping.objects.filter(channel=channel, raw_code=raw)
            .values_list("reason__code", flat=True)
            .first()
        )
    if mapped:
        return mapped
    for code, _label, canonical in platform_reason_map().get(channel.platform, []):
        if code == raw:
            return canonical
    if known is not None:
        active = raw in known.active_reasons
    else:
        active = ReasonCode.objects.filter(code=raw, is_active=True).exists()
    if active:
        return raw
    raise InboundEventParked(
        f"{channel.name} sent the return reason {raw!r}, which maps to no reason code: add a "
        "reason mapping for the channel, then replay.",
        kind=ExceptionKind.CHANNEL_DISPUTE,
        subject_label=f"{channel.code} reason {raw}",
    )


def _record(
    case: ReturnCase,
    *,
    kind: str,
    dedupe_key: str,
    event: InboundEvent,
    detail: str = "",
    applied: str = "",
    data: dict | None = None,
    source: str = SOURCE,
    fresh: bool = False,
    later: list[ReturnCaseEvent] | None = None,
    **fields,
) -> ReturnCaseEvent | None:
    """The report on the case's timeline, once per `dedupe_key`; None if already there.

    `fresh`: the caller knows it is not there (the case is new, or a batch read the case's
    records): no savepoint around the insert, two round trips fewer. Should a concurrent
    worker have recorded it all the same, the unique key fails the event (or its batch's
    fast pass), and its retry finds the record. `later` (fresh records only): the record is
    added to it unsaved, for a batch run's one multi-row INSERT (`_records_insert`); the
    caller adds it last, so that an event that raised adds nothing."""
    create = partial(
        ReturnCaseEvent if later is not None else ReturnCaseEvent.objects.create,
        case=case,
        source=source,
        kind=kind,
        dedupe_key=dedupe_key[:200],
        occurred_at=event.occurred_at or event.received_at,
        detail=detail,
        applied=applied[:200],
        data=data or {},
        inbound_event_id=event.pk,
        **fields,
    )
    if later is not None:
        later.append(create())
        return later[-1]
    if fresh:
        return create()
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        return None


def _records_insert(records: list[ReturnCaseEvent]) -> None:
    """A batch run's new timeline records, in their events' order, in one INSERT; when the
    run ends, before the batch's next run may read them (a failure here starts the batch
    over isolated, see `erp.services.inbox_batch`)."""
    if records:
        ReturnCaseEvent.objects.bulk_create(records)


def _return_label(message: ShopifyReturn) -> str:
    return message.name or f"return {message.return_id}"


def _case_open(
    channel: Channel, order: SalesOrder, requests: list[services.LineRequest], *, note: str
) -> ReturnCase:
    """Open a case through the policy as the channel's service account, with the resolution
    the policy offers first in RESOLUTION_PREFERENCE; raises the policy's ValidationError.

    Most requests are offered a refund: it is asked for first, and what the policy offers is
    evaluated only when it refuses that (writing nothing), instead of evaluating every
    request twice."""
    known = _request_batch.get()
    actor = known.actors.get(channel.pk) if known is not None else None
    create = partial(
        services.return_case_create,
        order_id=order.pk,
        requests=requests,
        actor=actor or channel_actor(channel),
        source=Source.API,
        note=note,
    )
    try:
        return create(resolution=RESOLUTION_PREFERENCE[0])
    except ValidationError as refused:
        if set(getattr(refused, "error_dict", {})) != {"resolution"}:
            raise
    evaluation = services.return_request_evaluate(order=order, requests=requests)
    offered = [r for r in RESOLUTION_PREFERENCE if r in evaluation.resolutions]
    return create(resolution=offered[0] if offered else Resolution.REFUND)


def _open_case(event: InboundEvent, channel: Channel, message: ShopifyReturn) -> None:
    subject = f"{channel.code} {_return_label(message)}"
    known = _request_batch.get()
    if known is not None:
        order = known.orders.get((channel.pk, message.order_id))
    else:
        order = SalesOrder.objects.filter(channel=channel, number=message.order_id).first()
    if order is None:
        raise InboundEventParked(
            f"Unknown order {message.order_id} on {channel.name} for Shopify "
            f"{_return_label(message)}: import the order (orders/updated), then replay.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=subject,
        )
    if not message.lines:
        raise InboundEventParked(
            f"Shopify {_return_label(message)} names no return line items; nothing to open "
            "a case for. Check the return on Shopify, then replay or dismiss.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=subject,
        )
    if known is not None:
        lines = {
            item.line_item_id: known.lines[(order.pk, item.line_item_id)]
            for item in message.lines
            if (order.pk, item.line_item_id) in known.lines
        }
    else:
        lines = {
            line.channel_line_id: line
            for line in OrderLine.objects.filter(
                order=order, channel_line_id__in=[item.line_item_id for item in message.lines]
            )
        }
    requests = []
    for item in message.lines:
        line = lines.get(item.line_item_id)
        if line is None:
            raise InboundEventParked(
                f"Order {order.number} has no line for Shopify line item {item.line_item_id}: "
                "re-import the order, then replay.",
                kind=ExceptionKind.CHANNEL_DISPUTE,
                subject_label=subject,
            )
        reason = _reason_code(channel, item.reason_code)
        requests.append(
            services.LineRequest(
                order_line_id=line.pk,
                quantity=item.quantity,
                reason_code=reason,
                claimed_condition=CONDITION_BY_REASON.get(reason, ClaimedCondition.OPENED_UNUSED),
                comment=" — ".join(n for n in (item.reason_note, item.customer_note) if n),
            )
        )
    try:
        case = _case_open(
            channel,
            order,
            requests,
            note=f"Requested on Shopify ({_return_label(message)})",
        )
    except ValidationError as error:
        reasons = "; ".join(error.messages)
        raise InboundEventParked(
            f"Shopify {_return_label(message)} cannot be opened under our policy: {reasons}",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=subject,
        ) from error
    link = ChannelReturn(
        channel=channel,
        external_id=message.return_id,
        name=message.name,
        case=case,
        status=message.status,
    )
    if known is None:
        link.save(force_insert=True)
    _record(
        case,
        kind=ExternalEventKind.CHANNEL_REQUESTED,
        dedupe_key=f"shopify:return:{message.return_id}:requested",
        event=event,
        fresh=True,  # the case was opened just now: nothing is on its timeline
        later=known.records if known is not None else None,
        detail=_return_label(message),
        applied=f"Opened {case.rma_number}: {case.decision.get('summary', '')}",
        data={
            "return_id": message.return_id,
            "order_id": message.order_id,
            # returns/update names return line items only: this maps them to order lines.
            "lines": {item.return_line_item_id: item.line_item_id for item in message.lines},
        },
    )
    if known is not None:
        # Last, so a request that failed on the way is neither inserted when the run ends
        # nor taken for linked by a repeat.
        known.links.append(link)
        known.linked.add((channel.pk, message.return_id))


def _linked(channel: Channel, return_id: str, *, lock: bool = True) -> ChannelReturn:
    links = ChannelReturn.objects.select_related("case")
    if lock:
        links = links.select_for_update(of=("self",))
    link = links.filter(channel=channel, external_id=return_id).first()
    if link is None:
        raise ChannelReturnNotYetKnown(
            f"Shopify return {return_id} has not been requested here yet; retrying."
        )
    return link


def _decide(case: ReturnCase, topic: str, message: ShopifyReturn) -> str:
    """Apply the channel's decision where our workflow allows it; say what happened."""
    state = case.get_state_display().lower()
    undecided = case.state in (ReturnState.REQUESTED, ReturnState.PENDING_REVIEW)
    try:
        if topic == "returns/approve":
            if not undecided:
                return f"Nothing to do: the case is already {state}"
            services.return_case_authorize(case_id=case.pk, actor=None, note="Approved on Shopify")
            return "Case authorized"
        if topic == "returns/decline":
            if not undecided:
                return f"Not applied: the case is already {state}"
            why = message.decline_reason.replace("_", " ") or "no reason given"
            services.return_case_reject(
                case_id=case.pk, actor=None, reason=f"Declined on Shopify: {why}"
            )
            return "Case rejected"
        if topic == "returns/cancel":
            if case.state in VOID_STATES:
                return f"Nothing to do: the case is already {state}"
            if case.state not in CANCELLABLE_STATES:
                return f"Not cancelled: the case is {state}; the parcel is on its way or here"
            services.return_case_cancel(case_id=case.pk, actor=None, reason="Cancelled on Shopify")
            return "Case cancelled"
    except (ValidationError, TransitionNotAllowed) as error:
        return "Not applied: " + "; ".join(getattr(error, "messages", [str(error)]))
    if topic == "returns/close":
        return "Recorded only: our case closes after inspection"
    return "Recorded only"


def shopify_return_apply(*, event: InboundEvent, message: ShopifyReturn) -> None:
    """Apply one Shopify returns/* webhook to the case it concerns.

    Effects: returns/request opens a case through `return_case_create` (source API, acting as
    the channel's service account; lines mapped by Shopify line item id, reasons through the
    channel's mappings) and links it to the Shopify return — or parks the event with a
    channel_dispute exception when the order, a line or a reason is unknown, the request has
    no lines, or our policy refuses it; a request already linked changes nothing. The other
    topics lock the link (retrying while the request is not applied yet), record the event
    once on the case's timeline and apply approve / decline / cancel as `_decide` explains.
    """
    channel = _channel(event)
    if message.topic == "returns/request":
        known = _request_batch.get()
        if known is not None:
            linked = (channel.pk, message.return_id) in known.linked
        else:
            linked = ChannelReturn.objects.filter(
                channel=channel, external_id=message.return_id
            ).exists()
        if not linked:
            with services.return_case_create_step():
                _open_case(event, channel, message)
        return
    link = _linked(channel, message.return_id)
    kind = {
        "returns/approve": ExternalEventKind.CHANNEL_APPROVED,
        "returns/decline": ExternalEventKind.CHANNEL_DECLINED,
        "returns/cancel": ExternalEventKind.CHANNEL_CANCELLED,
        "returns/close": ExternalEventKind.CHANNEL_CLOSED,
        "returns/reopen": ExternalEventKind.CHANNEL_REOPENED,
    }[message.topic]
    when = event.occurred_at.isoformat() if event.occurred_at else event.external_id
    record = _record(
        link.case,
        kind=kind,
        dedupe_key=f"shopify:return:{message.return_id}:{message.topic}:{when}",
        event=event,
        detail=" — ".join(p for p in (message.decline_reason, message.decline_note) if p),
        data={"return_id": message.return_id, "status": message.status},
    )
    if record is None:
        return
    record.applied = _decide(link.case, message.topic, message)[:200]
    record.save(update_fields=["applied"])
    link.status = message.status
    link.save(update_fields=["status"])


def shopify_return_update_apply(*, event: InboundEvent, message: ShopifyReturnUpdate) -> None:
    """Apply a Shopify returns/update (a delta) to the linked case.

    Effects: retries while the return's request is not applied here; records the update once
    on the case's timeline; units removed from return line items are taken off the case's
    lines through `return_case_lines_reduce` (which cancels a case left with no line) while
    the case allows it; otherwise the record says why nothing changed. Fee changes are
    recorded only: our policy sets restocking fees and return shipping.
    """
    channel = _channel(event)
    link = _linked(channel, message.return_id)
    case = link.case
    record = _record(
        case,
        kind=ExternalEventKind.CHANNEL_UPDATED,
        # A delta: the same change re-sent under another webhook id has the same body and time.
        dedupe_key=(
            f"shopify:return:{message.return_id}:update:"
            f"{event.occurred_at.isoformat() if event.occurred_at else ''}:"
            f"{body_digest(bytes(event.body))}"
        ),
        event=event,
        detail="; ".join(f"{units} unit(s) off line item {rli}" for rli, units in message.removals)
        or "No return line item removed",
        data={"return_id": message.return_id, "removals": [list(r) for r in message.removals]},
    )
    if record is None:
        return
    record.applied = _reduce(case, message)[:200]
    record.save(update_fields=["applied"])


def _reduce(case: ReturnCase, message: ShopifyReturnUpdate) -> str:
    if not message.removals:
        return "Recorded only: fees are set by our policy"
    requested = (
        ReturnCaseEvent.objects.filter(case=case, kind=ExternalEventKind.CHANNEL_REQUESTED)
        .values_list("data", flat=True)
        .first()
    ) or {}
    line_items = requested.get("lines") or {}
    unknown = [rli for rli, _ in message.removals if rli not in line_items]
    if unknown:
        return f"Not applied: return line item(s) {', '.join(unknown)} unknown on this case"
    lines = {
        line.order_line.channel_line_id: line.pk for line in case.lines.select_related("order_line")
    }
    reductions: dict[int, int] = {}
    for rli, units in message.removals:
        line_id = lines.get(line_items[rli])
        if line_id is None:
            return f"Not applied: line item {line_items[rli]} is no longer on the case"
        reductions[line_id] = reductions.get(line_id, 0) + units
    removed = sum(units for _, units in message.removals)
    try:
        updated = services.return_case_lines_reduce(
            case_id=case.pk,
            reductions=reductions,
            actor=None,
            why=f"Updated on Shopify: {removed} unit(s) removed",
        )
    except ValidationError as error:
        return "Not applied: " + "; ".join(error.messages)
    if updated.state == ReturnState.CANCELLED:
        return "Case cancelled: every unit was removed on Shopify"
    return f"{removed} unit(s) taken off the case"


def _refund_key(message: ShopifyRefund) -> str:
    return f"shopify:refund:{message.refund_id}"


def shopify_refund_record(*, event: InboundEvent, message: ShopifyRefund) -> None:
    """Record a refund Shopify issued on the case it belongs to; no money moves here.

    Effects: finds the case by the refund's return, else the newest live case on its order;
    parks the event (channel_dispute exception) when the order is unknown; a refund on an
    order with no return case (an order edit or cancellation) changes nothing. Records the
    refund once (per Shopify refund id) on the case's timeline with its successful refund
    transactions' total and its lines. In a batch, the lookups come from
    `shopify_refunds_prepare` (one query each for the whole batch).
    """
    known = _refund_batch.get()
    channel = known.channels.get(event.account) if known else None
    channel = channel or _channel(event)
    case = None
    if message.return_id:
        if known:
            case = known.linked.get((channel.pk, message.return_id))
        else:
            link = ChannelReturn.objects.filter(channel=channel, external_id=message.return_id)
            case = link.values_list("case", flat=True).first()
    if case is None:
        if known:
            order = known.orders.get((channel.pk, message.order_id))
        else:
            order = (
                SalesOrder.objects.filter(channel=channel, number=message.order_id)
                .values_list("pk", flat=True)
                .first()
            )
        if order is None:
            raise InboundEventParked(
                f"Shopify refund {message.refund_id} is for order {message.order_id}, unknown "
                f"on {channel.name}: import the order, then replay.",
                kind=ExceptionKind.CHANNEL_DISPUTE,
                subject_label=f"{channel.code} refund {message.refund_id}",
            )
        if known:
            case = known.live_cases.get(order)
        else:
            case = (
                ReturnCase.objects.filter(order_id=order)
                .exclude(state__in=VOID_STATES)
                .order_by("-requested_at", "-pk")
                .values_list("pk", flat=True)
                .first()
            )
        if case is None:
            return
    if known and case in known.cases:
        case = known.cases[case]
    else:
        case = ReturnCase.objects.select_for_update(of=("self",)).get(pk=case)
    refunded = [t for t in message.transactions if t.kind == "refund" and t.status == "success"]
    total = sum((t.amount for t in refunded), Decimal("0"))
    currency = next((t.currency for t in refunded if t.currency), "") or case.order.currency
    key = _refund_key(message)
    if known:
        if (case.pk, key) in known.recorded:
            return  # read for the batch, and kept up to date: a repeat, one effect
        known.recorded.add((case.pk, key))
    _record(
        case,
        kind=ExternalEventKind.CHANNEL_REFUND,
        dedupe_key=key,
        event=event,
        fresh=known is not None,
        later=known.records if known is not None else None,
        detail=f"{total} {currency} refunded on Shopify"
        + (f" via {refunded[0].gateway}" if refunded and refunded[0].gateway else ""),
        applied="Recorded only: the channel moved the money",
        data={
            "refund_id": message.refund_id,
            "order_id": message.order_id,
            "amount": str(total),
            "currency": currency,
            "lines": [
                {
                    "line_item_id": line.line_item_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "restock_type": line.restock_type,
                    "subtotal": str(line.subtotal),
                }
                for line in message.lines
            ],
        },
    )


@dataclass(frozen=True)
class _RefundLookups:
    """What a batch of refunds/create events look up, each read once for the batch."""

    channels: dict[str, Channel]
    linked: dict[tuple[int, str], int]  # (channel, Shopify return id) → case
    orders: dict[tuple[int, str], int]  # (channel, order number) → order
    live_cases: dict[int, int]  # order → its newest live case
    recorded: set[tuple[int, str]]  # (case, dedupe key) of the batch's refunds already recorded
    cases: dict[int, ReturnCase]  # the cases the refunds are recorded on, locked, with order
    # The refunds recorded in this run, inserted together when it ends.
    records: list[ReturnCaseEvent] = field(default_factory=list)


_refund_batch: ContextVar[_RefundLookups | None] = ContextVar("refund_batch", default=None)


@contextmanager
def shopify_refunds_prepare(pairs: list[tuple[InboundEvent, ShopifyRefund]]):
    """Inside: `shopify_refund_record` reads channels, return links, orders, live cases, the
    refunds already recorded and the cases (locked, in id order, with their orders) for these
    events from six queries instead of up to six per event, and records each new refund
    without a savepoint.

    Effects: locks the cases the refunds are recorded on."""
    channels = Channel.objects.in_bulk({event.account for event, _ in pairs}, field_name="code")
    ids = [channel.pk for channel in channels.values()]
    return_ids = {message.return_id for _, message in pairs if message.return_id}
    linked = {
        (channel_id, external_id): case_id
        for channel_id, external_id, case_id in ChannelReturn.objects.filter(
            channel_id__in=ids, external_id__in=return_ids
        ).values_list("channel_id", "external_id", "case_id")
    }
    orders = {
        (channel_id, number): pk
        for channel_id, number, pk in SalesOrder.objects.filter(
            channel_id__in=ids, number__in={message.order_id for _, message in pairs}
        ).values_list("channel_id", "number", "pk")
    }
    live_cases: dict[int, int] = {}
    for order_id, case_id in (
        ReturnCase.objects.filter(order_id__in=set(orders.values()))
        .exclude(state__in=VOID_STATES)
        .order_by("order_id", "-requested_at", "-pk")
        .values_list("order_id", "pk")
    ):
        live_cases.setdefault(order_id, case_id)
    recorded = set(
        ReturnCaseEvent.objects.filter(
            kind=ExternalEventKind.CHANNEL_REFUND,
            dedupe_key__in={_refund_key(message) for _, message in pairs},
        ).values_list("case_id", "dedupe_key")
    )
    # The case each refund is recorded on (as the handler chooses it), locked in id order for
    # the batch instead of one lock and one order read per refund.
    chosen = set()
    for event, message in pairs:
        channel = channels.get(event.account)
        if channel is None:
            continue
        case_id = linked.get((channel.pk, message.return_id)) if message.return_id else None
        order_id = orders.get((channel.pk, message.order_id))
        chosen.add(case_id or live_cases.get(order_id))
    cases = {
        case.pk: case
        for case in ReturnCase.objects.select_related("order")
        .select_for_update(of=("self",))
        .filter(pk__in=chosen - {None})
        .order_by("pk")
    }
    known = _RefundLookups(channels, linked, orders, live_cases, recorded, cases)
    token = _refund_batch.set(known)
    try:
        yield
    finally:
        _refund_batch.reset(token)
    _records_insert(known.records)


@contextmanager
def shopify_return_requests_prepare(pairs: list[tuple[InboundEvent, ShopifyReturn]]):
    """Inside: `shopify_return_apply` reads, for these returns/request events, the channels,
    the returns already linked, the orders and their lines, the channels' reason mappings and
    the active reason codes and the channels' service accounts from seven queries, instead of
    up to nine per event; and opening their cases reads what it needs once for the batch
    (`services.return_cases_create_prepare`: policy, locked order lines, risk history). The
    run's links to the Shopify returns and its timeline records are inserted as it ends, one
    statement each."""
    channels = Channel.objects.in_bulk({event.account for event, _ in pairs}, field_name="code")
    ids = [channel.pk for channel in channels.values()]
    linked = set(
        ChannelReturn.objects.filter(
            channel_id__in=ids, external_id__in={message.return_id for _, message in pairs}
        ).values_list("channel_id", "external_id")
    )
    orders = {
        (order.channel_id, order.number): order
        for order in SalesOrder.objects.filter(
            channel_id__in=ids, number__in={message.order_id for _, message in pairs}
        )
    }
    items = {item.line_item_id for _, message in pairs for item in message.lines}
    lines = {
        (line.order_id, line.channel_line_id): line
        for line in OrderLine.objects.filter(
            order__in=[order.pk for order in orders.values()], channel_line_id__in=items
        )
    }
    raw = {item.reason_code for _, message in pairs for item in message.lines}
    reasons = {
        (channel_id, raw_code): code
        for channel_id, raw_code, code in ReasonCodeMapping.objects.filter(
            channel_id__in=ids, raw_code__in=raw
        ).values_list("channel_id", "raw_code", "reason__code")
    }
    active = set(ReasonCode.objects.filter(is_active=True).values_list("code", flat=True))
    # Service accounts that exist already: one object per channel, its permissions read once.
    # (One created inside the batch is not kept: its event's savepoint may roll it back.)
    usernames = {f"channel:{code}"[:150]: channel.pk for code, channel in channels.items()}
    actors = {
        usernames[user.username]: user
        for user in get_user_model().objects.filter(username__in=usernames)
    }
    known = _RequestLookups(channels, linked, orders, lines, reasons, active, actors)
    token = _request_batch.set(known)
    try:
        # What opening their cases reads (policy, order lines, risk history), for all of them.
        with services.return_cases_create_prepare(
            order_ids=[order.pk for order in orders.values()]
        ):
            yield
    finally:
        _request_batch.reset(token)
    # Links before the records, as one at a time writes them; only the batch's later runs
    # read either (a repeat in this run asks `known.linked`). A link a concurrent worker
    # inserted first fails the unique key here: the batch starts over isolated, as for records.
    if known.links:
        ChannelReturn.objects.bulk_create(known.links)
    _records_insert(known.records)


def shopify_return_requests_footprint(pairs: list[tuple[InboundEvent, ShopifyReturn]]) -> list:
    """For `erp.services.inbox_schedule`: a request touches its order, its return and its
    order's customer (whose other cases its risk screening counts; one query for the batch)."""
    customers = {
        (code, number): customer
        for code, number, customer in SalesOrder.objects.filter(
            channel__code__in={event.account for event, _ in pairs},
            number__in={message.order_id for _, message in pairs},
        ).values_list("channel__code", "number", "customer_id")
    }
    return [
        {
            ("order", event.account, message.order_id),
            ("return", event.account, message.return_id),
            ("customer", customers.get((event.account, message.order_id))),
        }
        for event, message in pairs
    ]


def shopify_refunds_footprint(pairs: list[tuple[InboundEvent, ShopifyRefund]]) -> list:
    """For `erp.services.inbox_schedule`: a refund touches its order and its return."""
    return [
        {("order", event.account, message.order_id)}
        | ({("return", event.account, message.return_id)} if message.return_id else set())
        for event, message in pairs
    ]


def shopify_return_label_record(*, event: InboundEvent, message: ShopifyReverseDelivery) -> None:
    """Record the return label Shopify attached, so carrier events find the case by it.

    Effects: retries while the return is not known here; records the label (carrier and
    tracking number) once on the case's timeline. The case stays as it is until the carrier
    reports the parcel moving."""
    channel = _channel(event)
    link = _linked(channel, message.return_id)
    _record(
        link.case,
        kind=ExternalEventKind.LABEL,
        dedupe_key=f"shopify:label:{message.delivery_id}:{message.tracking_number}",
        event=event,
        detail=f"{message.carrier} {message.tracking_number}".strip(),
        carrier=message.carrier,
        tracking_number=message.tracking_number,
        data={"reverse_delivery_id": message.delivery_id},
    )


# Shopify's reverse-fulfillment disposition types (disposition_canonical_map.tsv, shopify_rfo).
RFO_CANONICAL = {
    "RESTOCKED": "SELLABLE",
    "NOT_RESTOCKED": "UNSELLABLE",
    "PROCESSING_REQUIRED": "PENDING_INSPECTION",
    "MISSING": "MISSING",
}


def shopify_disposal_park(*, event: InboundEvent, message: ShopifyDisposal) -> None:
    """reverse_fulfillment_orders/dispose cannot be applied: park it with why.

    The payload names only the reverse fulfillment order and its line items (FORMATS.md §1).
    Nothing Shopify sends us by webhook links those to a return, an order or a line item: the
    returns/* payloads carry return line items and fulfillment line items, never the reverse
    fulfillment order the return created; that link exists only behind the Admin GraphQL API
    (ReverseFulfillmentOrder.lineItems.fulfillmentLineItem), which this back office does not
    call. So the event parks with a channel_dispute exception that lists each disposition
    through the canonical map, for a person to check against the case; our own warehouse's
    disposition governs our stock either way.
    """
    listed = "; ".join(
        f"line item {d.rfo_line_item_id}: {d.quantity} × {d.type} "
        f"({RFO_CANONICAL.get(d.type, 'UNKNOWN')})"
        for d in message.dispositions
    )
    raise InboundEventParked(
        f"Shopify disposed of reverse fulfillment order {message.reverse_fulfillment_order_id} "
        f"({listed or 'no dispositions'}), and no webhook links a reverse fulfillment order to "
        "a return or order line here: find the case in Shopify admin, check its units were "
        "dispositioned at our warehouse, then dismiss this.",
        kind=ExceptionKind.CHANNEL_DISPUTE,
        subject_label=f"{event.account} RFO {message.reverse_fulfillment_order_id}",
    )


# ---- Amazon returns reports -----------------------------------------------------------------

# Amazon's canonical disposition of the unit → the condition it was returned in, for the policy.
CONDITION_BY_DISPOSITION = {
    "SELLABLE": ClaimedCondition.OPENED_UNUSED,
    "DAMAGED_MARKETPLACE_LIABLE": ClaimedCondition.DAMAGED,
    "DAMAGED_CARRIER": ClaimedCondition.DAMAGED,
    "UNSELLABLE_CUSTOMER_DAMAGED": ClaimedCondition.DAMAGED,
    "UNSELLABLE_DEFECTIVE": ClaimedCondition.DEFECTIVE,
    "UNSELLABLE_EXPIRED": ClaimedCondition.USED,
}


def _amazon_line(channel: Channel, order: SalesOrder, row: CustomerReturnRow) -> OrderLine:
    """The order line of the report's seller SKU (through the channel's listing, or our own
    SKU); parks the event when the SKU is unknown or not on the order."""
    listed = ChannelListing.objects.filter(channel=channel, channel_sku=row.sku).values("product")
    products = Product.objects.filter(Q(pk__in=listed) | Q(sku=row.sku)).values("pk")
    line = (
        OrderLine.objects.filter(order=order, product__in=products).order_by("line_number").first()
    )
    if line is not None:
        return line
    if not products.exists():
        raise InboundEventParked(
            f"Amazon returned SKU {row.sku!r} on order {order.number}, and no product or "
            f"{channel.name} listing has that SKU: add the listing, then replay.",
            kind=ExceptionKind.INVESTIGATE_SKU,
            subject_label=f"{channel.code} SKU {row.sku}",
        )
    raise InboundEventParked(
        f"Order {order.number} has no line for SKU {row.sku!r}, which Amazon reports returned: "
        "re-import the order, then replay.",
        kind=ExceptionKind.CHANNEL_DISPUTE,
        subject_label=f"{channel.code} {order.number}",
    )


def _amazon_case(
    event: InboundEvent, channel: Channel, order: SalesOrder, line: OrderLine, row
) -> tuple[ReturnCase, str]:
    """The case this returned unit belongs to, and what finding it did: the one already linked
    to the unit, else a live unlinked case on the order covering the line (now linked), else
    a new case opened through the policy as the channel's service account."""
    link = (
        ChannelReturn.objects.select_related("case")
        .select_for_update(of=("self",))
        .filter(channel=channel, external_id=row.return_ref[:80])
        .first()
    )
    if link is not None:
        link.status = row.status[:20]
        link.save(update_fields=["status"])
        return link.case, ""
    case = (
        ReturnCase.objects.filter(order=order, lines__order_line=line, channel_return__isnull=True)
        .exclude(state__in=VOID_STATES)
        .order_by("-requested_at", "-pk")
        .first()
    )
    found = f"Linked to {case.rma_number}" if case else ""
    if case is None:
        label = f"{channel.code} {order.number} {row.return_ref}"
        request = services.LineRequest(
            order_line_id=line.pk,
            quantity=row.quantity,
            reason_code=_reason_code(channel, row.reason or "UNKNOWN_OTHER_REASON"),
            claimed_condition=CONDITION_BY_DISPOSITION.get(
                row.canonical_disposition, ClaimedCondition.OPENED_UNUSED
            ),
            comment=row.comments,
        )
        try:
            case = _case_open(
                channel,
                order,
                [request],
                note=f"Reported by Amazon ({row.topic}, {row.return_ref})"[:100],
            )
        except ValidationError as error:
            raise InboundEventParked(
                f"Amazon's return {row.return_ref} on order {order.number} cannot be opened "
                f"under our policy: {'; '.join(error.messages)}",
                kind=ExceptionKind.CHANNEL_DISPUTE,
                subject_label=label,
            ) from error
        found = f"Opened {case.rma_number}: {case.decision.get('summary', '')}"
    ChannelReturn.objects.create(
        channel=channel,
        external_id=row.return_ref[:80],
        name=f"{order.number} {row.license_plate or row.rma}".strip()[:80],
        case=case,
        status=row.status[:20],
    )
    return case, found


def amazon_return_apply(*, event: InboundEvent, message: CustomerReturnRow) -> None:
    """Apply one row of an Amazon returns report to the return case of that unit.

    Effects: parks the event (with an exception) when the channel, the order, the SKU or its
    order line is unknown, the reason maps to no code, or our policy refuses to open the case.
    Otherwise finds or opens the case (`_amazon_case`: a unit already linked, a live CS case
    on the order, or a new case through `return_case_create`), links the unit to it, and
    records the row on the case's timeline once per (unit, status, disposition, quantity): a
    back-updated row with a new status or disposition is recorded again, the same row never.
    """
    channel = _channel(event)
    order = SalesOrder.objects.filter(channel=channel, number=message.order_id).first()
    if order is None:
        raise InboundEventParked(
            f"Unknown order {message.order_id} on {channel.name} in Amazon's returns report: "
            "import the order, then replay.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=f"{channel.code} {message.order_id}",
        )
    line = _amazon_line(channel, order, message)
    case, found = _amazon_case(event, channel, order, line, message)
    disposition = message.disposition or message.resolution
    _record(
        case,
        kind=ExternalEventKind.CHANNEL_REPORTED,
        dedupe_key=(
            f"amazon:{message.return_ref}:{message.status}:{disposition}:{message.quantity}"
        ),
        event=event,
        source=InboundSource.AMAZON,
        detail=" — ".join(
            part
            for part in (
                f"{message.quantity} × {message.sku}",
                message.fulfillment_center,
                disposition,
                message.status,
                message.comments,
            )
            if part
        ),
        applied=found or f"Recorded: {message.status or 'status unchanged'}",
        data={
            "report": message.topic,
            "return_ref": message.return_ref,
            "order_id": message.order_id,
            "sku": message.sku,
            "quantity": message.quantity,
            "disposition": message.disposition,
            "canonical_disposition": message.canonical_disposition,
            "reason": message.reason,
            "status": message.status,
            "fulfillment_center": message.fulfillment_center,
            "license_plate": message.license_plate,
            "rma": message.rma,
        },
    )


def amazon_handlers_register() -> None:
    """Effects: none on the database; Amazon returns report rows apply to cases."""
    from erp.adapters.amazon import RETURN_TOPICS
    from erp.services.inbox import inbox_handler_register

    for topic in RETURN_TOPICS.values():
        inbox_handler_register(
            source=InboundSource.AMAZON, topic=topic, handler=amazon_return_apply
        )


def shopify_handlers_register() -> None:
    """Effects: none on the database; Shopify returns, refunds and labels apply to cases."""
    from erp.adapters.shopify import RETURN_TOPICS
    from erp.services.inbox import inbox_handler_register
    from erp.services.inbox_batch import inbox_batch_preparer_register
    from erp.services.inbox_schedule import inbox_batch_footprint_register

    for topic in sorted(RETURN_TOPICS):
        inbox_handler_register(source=SOURCE, topic=topic, handler=shopify_return_apply)
    inbox_batch_preparer_register(
        source=SOURCE, topic="returns/request", preparer=shopify_return_requests_prepare
    )
    inbox_batch_footprint_register(
        source=SOURCE, topic="returns/request", footprint=shopify_return_requests_footprint
    )
    inbox_handler_register(source=SOURCE, topic="refunds/create", handler=shopify_refund_record)
    inbox_batch_preparer_register(
        source=SOURCE, topic="refunds/create", preparer=shopify_refunds_prepare
    )
    inbox_batch_footprint_register(
        source=SOURCE, topic="refunds/create", footprint=shopify_refunds_footprint
    )
    inbox_handler_register(
        source=SOURCE, topic=RETURN_UPDATE_TOPIC, handler=shopify_return_update_apply
    )
    inbox_handler_register(
        source=SOURCE, topic=REVERSE_DELIVERY_TOPIC, handler=shopify_return_label_record
    )
    inbox_handler_register(source=SOURCE, topic=DISPOSE_TOPIC, handler=shopify_disposal_park)
