"""Demo returns for `manage.py seed_demo`: a month of return cases in every state, opened and
moved along through `returns.services` by the demo users, plus exceptions of several kinds;
and clearing them again.

Each step runs at its moment in the demo's past (`erp.demo.clock`), so requested, authorized
and shipped dates, ship-by deadlines and exception SLAs read as lived history.
"""

import random
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model

from erp.demo.clock import clock_at
from erp.models import (
    Customer,
    ExceptionCase,
    ExceptionNote,
    OutboxMessage,
    ReasonCode,
    ReasonCodeMapping,
    SalesOrder,
)
from erp.models.exceptions import ExceptionKind, ResolutionOutcome, SubjectType
from erp.services import exception_dismiss, exception_open, exception_resolve

from . import services
from .models import (
    ClaimedCondition,
    Resolution,
    ReturnCase,
    ReturnCaseMessage,
    ReturnLine,
    ReturnPhoto,
)
from .services import LineRequest

DEMO_NOTE = "Demo case (seed_demo)."
CASES = 150
DAYS = 30
SUSPICIOUS_SHARE = 0.08  # cases a fraud team would look at
State = ReturnCase.State
# Where an ordinary authorized case ends up, with weights; each step follows the last.
JOURNEYS = [
    ((), 22),
    (("cancel",), 6),
    (("ship",), 18),
    (("ship", "deliver"), 12),
    (("ship", "deliver", "receive"), 14),
    (("ship", "receive", "inspect"), 6),
    (("ship", "deliver", "receive", "inspect", "close"), 22),
]
# Exchanges would reserve replacement stock; the demo keeps to refunds and store credit.
RESOLUTIONS = [Resolution.REFUND, Resolution.REFUND, Resolution.STORE_CREDIT]
CARRIERS = ["UPS", "FedEx", "USPS", "DHL"]
# Reason group -> the conditions a customer plausibly claims with it.
CONDITIONS = {
    ReasonCode.Group.DEFECT: [ClaimedCondition.DEFECTIVE, ClaimedCondition.DAMAGED],
    ReasonCode.Group.NOT_AS_DESCRIBED: [ClaimedCondition.OPENED_UNUSED, ClaimedCondition.USED],
}
USUAL_CONDITIONS = [ClaimedCondition.UNOPENED, ClaimedCondition.OPENED_UNUSED]


@dataclass(frozen=True)
class _Actors:
    cs: Model
    warehouse: Model
    ops: Model


def demo_returns_seed(*, rng: random.Random, as_of: datetime) -> dict[str, int]:
    """Effects: opens ~CASES return cases on demo orders over the DAYS before `as_of` (each on
    an order delivered a few days before its request, never a wholesale one), with reasons
    drawn from the channel's reason mappings; the policy and risk screening decide each one
    (high-risk ones open fraud_review exceptions themselves). Then moves cases along — review,
    reject, cancel, ship, deliver, receive, inspect, close — as the demo users `cs`,
    `warehouse` and `ops`; and opens a few exceptions of other kinds, some overdue by
    `as_of`. Returns counts.
    """
    users = {
        u.username: u
        for u in get_user_model().objects.filter(username__in=["cs", "warehouse", "ops"])
    }
    actors = _Actors(cs=users["cs"], warehouse=users["warehouse"], ops=users["ops"])
    orders = list(
        SalesOrder.objects.filter(
            delivered_at__gte=as_of - timedelta(days=DAYS + 20),
            delivered_at__lt=as_of - timedelta(days=1),
        )
        .exclude(customer__segment=Customer.Segment.WHOLESALE)
        .select_related("customer")
        .prefetch_related("lines__product")
        .order_by("delivered_at", "pk")
    )
    delivered = [o.delivered_at for o in orders]  # sorted: the query orders by it
    reasons = _reasons_by_channel()
    plans = []
    used_orders: set[int] = set()
    for index in range(CASES):
        suspicious = index < CASES * SUSPICIOUS_SHARE
        requested = as_of - timedelta(days=rng.uniform(0.2, DAYS))
        plan = _plan_case(
            rng, orders, delivered, reasons, requested, used_orders, suspicious=suspicious
        )
        if plan is not None:
            plans.append(plan)
    plans.sort(key=lambda plan: plan[1])  # replay history in the order it happened

    cases = []
    for order, requested, requests, resolution in plans:
        try:
            with clock_at(requested):
                case = services.return_case_create(
                    order_id=order.pk,
                    requests=requests,
                    resolution=resolution,
                    actor=actors.cs,
                    note=DEMO_NOTE,
                )
        except ValidationError:
            continue  # the policy refuses it (a SKU's shorter window, a resolution not offered)
        cases.append(case)
        _move_along(rng, case, requested, as_of, actors)

    exceptions = _exceptions_open(rng, as_of, actors)
    states = defaultdict(int)
    for state in ReturnCase.objects.values_list("state", flat=True):
        states[state] += 1
    counts = {"return cases": len(cases)}
    counts |= {f"  {State(state).label.lower()}": n for state, n in sorted(states.items())}
    counts["exceptions"] = ExceptionCase.objects.count()
    counts["  fraud reviews"] = ExceptionCase.objects.filter(
        kind=ExceptionKind.FRAUD_REVIEW
    ).count()
    counts["  other kinds"] = exceptions
    return counts


def _reasons_by_channel() -> dict[int, list[ReasonCode]]:
    """Each channel's reasons as its platform reports them (a mapping per raw code); a channel
    without mappings (a platform without defaults) picks canonical reasons directly."""
    active = list(ReasonCode.objects.filter(is_active=True).order_by("code"))
    mapped: dict[int, list[ReasonCode]] = defaultdict(list)
    for mapping in (
        ReasonCodeMapping.objects.select_related("reason")
        .filter(reason__is_active=True)
        .order_by("channel_id", "raw_code")
    ):
        mapped[mapping.channel_id].append(mapping.reason)
    return defaultdict(lambda: active, mapped)


def _plan_case(rng, orders, delivered, reasons, requested, used_orders, *, suspicious):
    """(order, requested at, line requests, resolution) or None if no order fits.

    `delivered` holds the `orders`' delivery times, in the same (ascending) order."""
    if suspicious:
        # Requested the day it arrived, by a watchlisted customer, with a claim that does not
        # add up: the risk screening holds it for a fraud review.
        earliest, latest = requested - timedelta(hours=20), requested - timedelta(hours=1)
    else:
        earliest, latest = requested - timedelta(days=12), requested - timedelta(days=2)
    window = orders[bisect_left(delivered, earliest) : bisect_right(delivered, latest)]
    candidates = [
        o
        for o in window
        if o.pk not in used_orders
        and (o.customer.segment == Customer.Segment.WATCHLIST) == suspicious
    ]
    if not candidates:
        return None
    order = rng.choice(candidates)
    used_orders.add(order.pk)
    lines = sorted(order.lines.all(), key=lambda line: line.line_number)
    picked = rng.sample(lines, 1 if len(lines) == 1 or rng.random() < 0.8 else 2)
    requests = []
    for line in sorted(picked, key=lambda line: line.line_number):
        reason = rng.choice(reasons[order.channel_id])
        if suspicious:
            reason = next(
                (r for r in reasons[order.channel_id] if r.group == ReasonCode.Group.DEFECT),
                reason,
            )
            condition = ClaimedCondition.UNOPENED
        else:
            condition = rng.choice(CONDITIONS.get(reason.group, USUAL_CONDITIONS))
        requests.append(
            LineRequest(
                order_line_id=line.pk,
                quantity=1 if rng.random() < 0.85 else line.quantity,
                reason_code=reason.code,
                claimed_condition=condition,
            )
        )
    return order, requested, requests, rng.choice(RESOLUTIONS)


def _move_along(rng, case: ReturnCase, requested: datetime, as_of: datetime, actors: _Actors):
    """Take the case through the steps a month of work would have, each a little later."""
    moment = requested
    steps: list[tuple[str, Callable[[], object]]] = []
    if case.state == State.PENDING_REVIEW:
        outcome = rng.choices(["wait", "authorize", "reject"], [3, 4, 3])[0]
        if outcome == "wait":
            return
        if case.risk_level == "high":
            # Operations concluded the fraud review first: confirmed, or a false alarm.
            review = ExceptionCase.objects.get(
                kind=ExceptionKind.FRAUD_REVIEW,
                subject_type=SubjectType.RETURN_CASE,
                subject_id=str(case.pk),
            )
            # A confirmed review rejects the case itself (returns.fraud_review); a false alarm
            # is dismissed and the agent authorizes.
            if outcome == "reject":
                steps.append(
                    (
                        "reject",
                        lambda: exception_resolve(
                            exception_id=review.pk,
                            actor=actors.ops,
                            reason="Claim does not match the carrier's delivery photos.",
                            outcome=ResolutionOutcome.CONFIRMED,
                        ),
                    )
                )
            else:
                steps.append(
                    (
                        "review",
                        lambda: exception_dismiss(
                            exception_id=review.pk,
                            actor=actors.ops,
                            reason="Long-standing customer; the item was opened by the courier.",
                        ),
                    )
                )
        if outcome == "reject" and case.risk_level != "high":
            steps.append(
                (
                    "reject",
                    lambda: services.return_case_reject(
                        case_id=case.pk,
                        actor=actors.cs,
                        reason="Photos show wear beyond what the policy accepts.",
                    ),
                )
            )
        elif outcome != "reject":
            steps.append(
                (
                    "authorize",
                    lambda: services.return_case_authorize(case_id=case.pk, actor=actors.cs),
                )
            )
    if steps and steps[-1][0] == "reject":
        journey: tuple[str, ...] = ()
    else:
        journey = rng.choices([j for j, _ in JOURNEYS], [w for _, w in JOURNEYS])[0]
    carrier = rng.choice(CARRIERS)
    tracking = f"1Z{rng.randrange(10**15):015d}"
    do = {
        "cancel": lambda: services.return_case_cancel(
            case_id=case.pk, actor=actors.cs, reason="Customer decided to keep the item."
        ),
        "ship": lambda: services.return_case_ship(
            case_id=case.pk, actor=actors.cs, carrier=carrier, tracking_number=tracking
        ),
        "deliver": lambda: services.return_case_mark_delivered(case_id=case.pk, actor=actors.cs),
        "receive": lambda: services.return_case_receive(case_id=case.pk, actor=actors.warehouse),
        "inspect": lambda: services.return_case_inspect(case_id=case.pk, actor=actors.warehouse),
        "close": lambda: services.return_case_close(case_id=case.pk, actor=actors.ops),
    }
    steps += [(name, do[name]) for name in journey]
    for _, step in steps:
        moment += timedelta(hours=rng.uniform(4, 60))
        if moment >= as_of:
            return  # that step is still to come
        with clock_at(moment):
            step()


# (kind, the case states it fits, summary, details)
OTHER_EXCEPTIONS = [
    (
        ExceptionKind.SKU_MISMATCH,
        [State.RECEIVED],
        "Returned item is not the SKU on the RMA",
        "Label on the box names another model; photos attached at the bench.",
    ),
    (
        ExceptionKind.MISSING_COMPONENTS,
        [State.RECEIVED],
        "Accessories missing from the returned box",
        "Charger and cable not in the box.",
    ),
    (
        ExceptionKind.DAMAGED_IN_TRANSIT,
        [State.DELIVERED, State.IN_TRANSIT],
        "Parcel arrived crushed",
        "Carrier scan shows the parcel re-taped at the hub; claim with the carrier.",
    ),
    (
        ExceptionKind.LATE_3PL_DISPOSITION,
        [State.RECEIVED, State.DELIVERED],
        "3PL has not reported a disposition",
        "No disposition from the 3PL within the agreed 72 hours.",
    ),
]
EXCEPTIONS_PER_KIND = 3


def _exceptions_open(rng, as_of: datetime, actors: _Actors) -> int:
    """A few exceptions of other kinds on cases in a state where each happens, opened between
    a few hours and a few days before `as_of` (so some are past their SLA)."""
    opened = 0
    taken: set[int] = set()
    for kind, states, summary, details in OTHER_EXCEPTIONS:
        fitting = list(
            ReturnCase.objects.filter(state__in=states)
            .exclude(pk__in=taken)
            .select_related("order")
            .order_by("requested_at", "pk")
        )
        for case in rng.sample(fitting, min(EXCEPTIONS_PER_KIND, len(fitting))):
            taken.add(case.pk)
            line = case.lines.select_related("order_line__product").order_by("pk").first()
            with clock_at(as_of - timedelta(hours=rng.uniform(2, 120))):
                exception_open(
                    kind=kind,
                    subject_type=SubjectType.RETURN_CASE,
                    subject_id=case.pk,
                    subject_label=case.rma_number,
                    summary=f"{summary}: {case.rma_number}",
                    details=details,
                    product=line.order_line.product,
                    sales_order=case.order,
                    actor=actors.warehouse if kind != ExceptionKind.DAMAGED_IN_TRANSIT else None,
                )
            opened += 1
    return opened


class DemoReturnsResetRefused(Exception):
    """Return cases exist that the demo did not open."""


def demo_returns_reset() -> dict[str, int]:
    """Effects: deletes the demo's return cases (lines, photos, messages, their outbox rows,
    history) and the exceptions about them; returns rows deleted per table. Call inside a
    transaction. Refuses, deleting nothing, when a case exists that the demo did not open:
    somebody's work is not demo data. Other exceptions are left for the master-data reset to
    refuse on, when they point at a product or an order.
    """
    others = ReturnCase.objects.exclude(agent_note=DEMO_NOTE)
    if others.exists():
        raise DemoReturnsResetRefused(f"{others.count():,} return case(s) were not seeded")
    case_ids = [str(pk) for pk in ReturnCase.objects.values_list("pk", flat=True)]
    exceptions = ExceptionCase.objects.filter(
        subject_type=SubjectType.RETURN_CASE, subject_id__in=case_ids
    )
    exception_ids = list(exceptions.values_list("pk", flat=True))
    outbox_ids = list(ReturnCaseMessage.objects.values_list("outbox_message_id", flat=True))
    deleted = {}
    for label, queryset in [
        ("exception notes", ExceptionNote.objects.filter(exception_id__in=exception_ids)),
        ("exception history", ExceptionCase.history.filter(id__in=exception_ids)),
        ("exceptions", ExceptionCase.objects.filter(pk__in=exception_ids)),
        ("return messages", ReturnCaseMessage.objects.all()),
        ("customer messages", OutboxMessage.objects.filter(pk__in=outbox_ids)),
        ("return photos", ReturnPhoto.objects.all()),
        ("return line history", ReturnLine.history.all()),
        ("return lines", ReturnLine.objects.all()),
        ("return case history", ReturnCase.history.all()),
        ("return cases", ReturnCase.objects.all()),
    ]:
        deleted[label] = queryset._raw_delete(connection.alias)
    return deleted
