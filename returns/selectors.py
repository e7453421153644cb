"""Reads of return cases for screens, APIs and the services' checks. Each owns its joins, so a
screen's query count does not grow with the number of cases or lines."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.utils import timezone

from erp.models import ExceptionCase, OrderLine, OutboxMessage, ReasonCode, SalesOrder
from erp.models.exceptions import ExceptionKind, SubjectType
from finance.models import Refund, RefundMethod, RefundState
from warehouse.models import (
    Disposition,
    MatchResult,
    MismatchKind,
    QuarantineRecord,
    Receipt,
    ReturnUnit,
)

from .models import (
    CARRIER_KINDS,
    DecisionKind,
    PolicyEdit,
    PolicyRule,
    PolicyRuleSet,
    RefundTrigger,
    ReturnCase,
    ReturnCaseEvent,
    ReturnLine,
    ReturnState,
)
from .models.cases import VOID_STATES
from .policy import NoRuleMatches, line_facts, policy_decide
from .risk import LineRisk, RiskFacts

MISMATCH_KINDS = (
    ExceptionKind.SKU_MISMATCH,
    ExceptionKind.SERIAL_MISMATCH,
    ExceptionKind.MISSING_COMPONENTS,
)


def published_rule_set() -> PolicyRuleSet | None:
    return (
        PolicyRuleSet.objects.filter(state=PolicyRuleSet.State.PUBLISHED)
        .prefetch_related(Prefetch("rules", queryset=PolicyRule.objects.order_by("id")))
        .first()
    )


def returned_quantities(*, order_line_ids) -> dict[int, int]:
    """Units already claimed per order line by cases that still hold them."""
    rows = (
        ReturnLine.objects.filter(order_line_id__in=list(order_line_ids))
        .exclude(case__state__in=VOID_STATES)
        .values("order_line_id")
        .annotate(claimed=Sum("quantity"))
        .order_by()
    )
    return {row["order_line_id"]: row["claimed"] for row in rows}


def returnable_lines(*, order: SalesOrder) -> list[OrderLine]:
    """The order's lines, each with `returnable`: shipped minus already claimed (nothing is
    returnable before the order ships)."""
    lines = list(
        order.lines.select_related("product__category").prefetch_related("shipped_items").all()
    )
    claimed = returned_quantities(order_line_ids=[line.pk for line in lines])
    return with_returnable(order, lines, claimed=claimed)


def with_returnable(
    order: SalesOrder, lines: list[OrderLine], *, claimed: dict[int, int]
) -> list[OrderLine]:
    """The order's `lines`, each given `claimed` (from {line: units live cases claim}) and
    `returnable`: shipped minus claimed."""
    for line in lines:
        shipped = line.quantity if order.shipped_at else 0
        line.claimed = claimed.get(line.pk, 0)
        line.returnable = max(shipped - line.claimed, 0)
    return lines


@dataclass
class CustomerReturnHistory:
    """What a risk screening weighs of a customer's past: kept up to date by a batch that
    opens cases (`returns.services.return_cases_create_prepare`)."""

    delivered_orders: int = 0
    live_cases: list[tuple[int, int]] = field(default_factory=list)  # (case id, order id)
    mismatches: int = 0  # mismatch exceptions on those cases


def customer_return_histories(*, customer_ids) -> dict[int, CustomerReturnHistory]:
    """Each customer's return history, in three queries for all of them (`risk_facts` asks
    the same three per customer)."""
    histories = {pk: CustomerReturnHistory() for pk in customer_ids}
    for customer_id, delivered in (
        SalesOrder.objects.filter(customer_id__in=histories, delivered_at__isnull=False)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("customer_id", "n")
    ):
        histories[customer_id].delivered_orders = delivered
    owner = {}
    for pk, customer_id, order_id in (
        ReturnCase.objects.filter(customer_id__in=histories)
        .exclude(state__in=VOID_STATES)
        .order_by("pk")
        .values_list("pk", "customer_id", "order_id")
    ):
        histories[customer_id].live_cases.append((pk, order_id))
        owner[str(pk)] = customer_id
    if owner:
        for subject_id, n in (
            ExceptionCase.objects.filter(
                subject_type=SubjectType.RETURN_CASE, kind__in=MISMATCH_KINDS, subject_id__in=owner
            )
            .values("subject_id")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("subject_id", "n")
        ):
            histories[owner[subject_id]].mismatches += n
    return histories


def risk_facts(
    *,
    order: SalesOrder,
    lines: list[LineRisk],
    days_since_delivery: int,
    return_window_days: int,
    history: CustomerReturnHistory | None = None,
) -> RiskFacts:
    """The customer's and the order's history a risk screening weighs: `history` when the
    caller read it already (for a batch), else read now (`customer_return_histories`)."""
    customer = order.customer
    if history is None:
        history = customer_return_histories(customer_ids=[customer.pk])[customer.pk]
    return RiskFacts(
        customer_segment=customer.segment,
        customer_delivered_orders=history.delivered_orders,
        customer_prior_returns=len(history.live_cases),
        customer_prior_mismatches=history.mismatches,
        other_open_claims_on_order=sum(
            1 for _, order_id in history.live_cases if order_id == order.pk
        ),
        days_since_delivery=days_since_delivery,
        return_window_days=return_window_days,
        lines=tuple(lines),
    )


CASE_FIELDS = [field.name for field in ReturnCase._meta.concrete_fields]
# What the CS screens show of a case's channel, order and customer. Selecting the whole rows
# (addresses, totals, timestamps) cost CPU to compile and load for nothing: a case page's query
# went from 106 columns to 49, a third less to compile (about 0.3 ms).
CASE_ROW_RELATED_FIELDS = ("channel__name", "order__number", "customer__name", "customer__email")


def _case_rows() -> QuerySet[ReturnCase]:
    # A correlated subquery, not a JOIN + GROUP BY: the queue's index then yields the first
    # rows in order and PostgreSQL stops at the page's limit.
    units = (
        ReturnLine.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return (
        ReturnCase.objects.select_related("channel", "order", "customer")
        .only(*CASE_FIELDS, *CASE_ROW_RELATED_FIELDS)
        .annotate(units=Subquery(units))
    )


def _with_line_count(orders: QuerySet[SalesOrder]) -> QuerySet[SalesOrder]:
    lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return orders.select_related("channel", "customer").annotate(line_count=Subquery(lines))


def orders_recently_delivered(*, limit: int = 15) -> QuerySet[SalesOrder]:
    """The latest delivered orders, newest placed first: an index walk that stops at `limit`
    (a COUNT joined over every order would not)."""
    return _with_line_count(
        SalesOrder.objects.filter(delivered_at__isnull=False).order_by("-placed_at")
    )[:limit]


def order_search(*, query: str, limit: int = 50) -> QuerySet[SalesOrder]:
    """Orders to start a return from, matching `query` exactly on order no., customer e-mail
    or a shipped serial; newest first. Two queries, each key an indexed lookup (the orders
    screen's name search scans every order, too slow for the agent's search box)."""
    query = query.strip()
    if not query:
        return SalesOrder.objects.none()
    orders = SalesOrder.objects.order_by()
    first, *rest = [
        orders.filter(number=query.lstrip("#")).values_list("pk"),
        orders.filter(customer__email__in={query, query.lower()}).values_list("pk"),
        OrderLine.objects.filter(shipped_items__serial_number=query)
        .order_by()
        .values_list("order_id"),
    ]
    ids = [pk for (pk,) in first.union(*rest)]
    return _with_line_count(SalesOrder.objects.filter(pk__in=ids)).order_by("-placed_at", "-pk")[
        :limit
    ]


def return_case_search(*, query: str, limit: int = 200) -> QuerySet[ReturnCase]:
    """Cases matching `query` exactly on RMA no., order no., customer e-mail, tracking no. or a
    serial shipped on one of the case's order lines; newest first; at most `limit`.

    Two queries: the ids, as a UNION of one indexed lookup per key (an OR across the joins
    would make PostgreSQL scan every case), then the rows.
    """
    query = query.strip()
    if not query:
        return ReturnCase.objects.none()
    cases = ReturnCase.objects.order_by()
    per_key = [
        cases.filter(rma_number=query.upper()),
        cases.filter(order__number=query.lstrip("#")),
        # E-mails are stored as given, almost always lower-case: two index probes, not UPPER().
        cases.filter(customer__email__in={query, query.lower()}),
        cases.filter(tracking_number=query),
        ReturnLine.objects.filter(order_line__shipped_items__serial_number=query)
        .order_by()
        .values_list("case_id"),
    ]
    first, *rest = [q if q.model is ReturnLine else q.values_list("pk") for q in per_key]
    ids = [pk for (pk,) in first.union(*rest)]
    return _case_rows().filter(pk__in=ids).order_by("-requested_at", "-pk")[:limit]


def return_review_queue() -> QuerySet[ReturnCase]:
    """Cases waiting for a person, highest risk first, then the longest waiting."""
    return (
        _case_rows()
        .filter(state=ReturnState.PENDING_REVIEW)
        .order_by("-risk_score", "requested_at", "pk")
    )


def return_case_get(*, pk: int) -> ReturnCase:
    lines = ReturnLine.objects.select_related(
        "order_line__product__category", "reason", "rule"
    ).prefetch_related("order_line__shipped_items")
    return (
        ReturnCase.objects.select_related(
            "channel", "order", "customer", "rule_set", "deciding_rule", "expected_warehouse"
        )
        .only(
            *CASE_FIELDS,
            *CASE_ROW_RELATED_FIELDS,
            "order__currency",
            "rule_set__version",
            "deciding_rule__name",
            "expected_warehouse__name",
        )
        .prefetch_related(Prefetch("lines", queryset=lines), "messages", "photos")
        .get(pk=pk)
    )


def return_case_exceptions(*, case: ReturnCase) -> list[ExceptionCase]:
    return list(
        ExceptionCase.objects.filter(
            subject_type=SubjectType.RETURN_CASE, subject_id=str(case.pk)
        ).order_by("opened_at")
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    who: str = "System"
    body: str = ""
    items: tuple[str, ...] = field(default_factory=tuple)


TIMELINE_FIELDS = ("state", "carrier", "tracking_number", "outcome_reason", "ship_by")


def return_case_timeline(
    *, case: ReturnCase, exceptions: list[ExceptionCase]
) -> list[TimelineEntry]:
    """Everything that happened to the case, oldest first: the history with its reasons and
    changes, the policy decision, the risk screening, messages queued and exceptions. One
    query (the history) beyond what `return_case_get` loaded."""
    entries = []
    # Only what an entry shows: a history row copies the case's ~30 other columns, which cost
    # ~0.3 ms of CPU a page to compile and load, even for a case with no history yet.
    records = list(
        case.history.select_related("history_user")
        .only("history_date", "history_change_reason", "history_user__username", *TIMELINE_FIELDS)
        .order_by("history_date", "pk")
    )
    previous = None
    for record in records:
        who = record.history_user.get_username() if record.history_user else "System"
        if previous is None:
            changes = ()
        else:
            changes = tuple(
                f"{ReturnCase._meta.get_field(name).verbose_name.capitalize()}: "
                f"{_shown(previous, name)} → {_shown(record, name)}"
                for name in TIMELINE_FIELDS
                if getattr(previous, name) != getattr(record, name)
            )
        entries.append(
            TimelineEntry(
                at=record.history_date,
                kind="history",
                title=record.history_change_reason or "Changed",
                who=who,
                items=changes,
            )
        )
        previous = record
    # The decision and the screening were taken as the request was recorded: show them with it.
    decided_at = records[0].history_date if records else case.requested_at
    decision = case.decision
    entries.append(
        TimelineEntry(
            at=decided_at,
            kind="policy",
            title=(
                f"Policy v{case.rule_set.version}: “{case.deciding_rule.name}” → "
                f"{decision.get('summary', '')}"
            ),
            items=tuple(
                f"Line {line['line_number']}: {line['rule_name']} — {line['reason']}"
                for line in decision.get("lines", [])
            ),
        )
    )
    entries.append(
        TimelineEntry(
            at=decided_at,
            kind="risk",
            title=f"Risk screening: {case.get_risk_level_display().lower()} ({case.risk_score})",
            items=tuple(f"+{s['points']} {s['detail']}" for s in case.risk_signals)
            or ("No risk signal.",),
        )
    )
    queued = list(case.messages.all())
    outbox = {
        row["pk"]: row
        for row in OutboxMessage.objects.filter(
            pk__in=[m.outbox_message_id for m in queued]
        ).values("pk", "dispatched_at", "dead_lettered_at", "last_error")
    }
    for message in queued:
        label = message.get_template_display()
        entries.append(
            TimelineEntry(
                at=message.queued_at, kind="message", title=f"Customer message queued: {label}"
            )
        )
        sent = outbox.get(message.outbox_message_id, {})
        if sent.get("dispatched_at"):
            entries.append(
                TimelineEntry(
                    at=sent["dispatched_at"], kind="message", title=f"Customer e-mail sent: {label}"
                )
            )
        elif sent.get("dead_lettered_at"):
            entries.append(
                TimelineEntry(
                    at=sent["dead_lettered_at"],
                    kind="message",
                    title=f"Customer e-mail failed: {label}",
                    body=sent["last_error"],
                )
            )
    for exception in exceptions:
        entries.append(
            TimelineEntry(
                at=exception.opened_at,
                kind="exception",
                title=f"Exception {exception.get_kind_display().lower()}: {exception.summary}",
                body=f"{exception.get_state_display()}"
                + (f" — {exception.resolution_reason}" if exception.resolution_reason else ""),
            )
        )
    entries.extend(_external_entries(case))
    entries.extend(_warehouse_entries(case))
    entries.extend(_refund_entries(case))
    order = {
        "history": 0,
        "policy": 1,
        "risk": 2,
        "carrier": 3,
        "channel": 3,
        "warehouse": 4,
        "refund": 5,
        "exception": 6,
        "message": 7,
    }
    # Stable: the history rows keep their order among themselves.
    return sorted(entries, key=lambda entry: (entry.at, order[entry.kind]))


def _external_entries(case: ReturnCase) -> list[TimelineEntry]:
    """Carrier milestones and channel reports, at the time the sender gives. One query."""
    entries = []
    for report in ReturnCaseEvent.objects.filter(case=case).order_by("occurred_at", "pk"):
        items = []
        if report.tracking_number:
            items.append(f"{report.carrier or 'Carrier'} {report.tracking_number}".strip())
        if report.eta:
            items.append(f"ETA {_day(report.eta)}")
        if report.applied:
            items.append(report.applied)
        entries.append(
            TimelineEntry(
                at=report.occurred_at,
                kind="carrier" if report.kind in CARRIER_KINDS else "channel",
                title=report.get_kind_display(),
                who=report.source_label,
                body=report.detail,
                items=tuple(items),
            )
        )
    return entries


def _who(user) -> str:
    return user.get_username() if user else "System"


def _unit_label(unit: ReturnUnit) -> str:
    what = unit.product.sku if unit.product else f"unknown item {unit.scanned_code}"
    return f"Unit #{unit.pk} ({what}{f', serial {unit.serial}' if unit.serial else ''})"


def _warehouse_entries(case: ReturnCase) -> list[TimelineEntry]:
    """Receipts with each unit's match outcome, inspections with their grade, dispositions,
    quarantine and release, at the time and by the person the warehouse recorded. Four
    queries, whatever the number of parcels and units (two before anything is received)."""
    entries = []
    units = list(
        ReturnUnit.objects.filter(case=case)
        .select_related("product", "inspection", "inspection__inspector")
        .order_by("received_at", "pk")
    )
    by_receipt: dict[int, list[ReturnUnit]] = {}
    for unit in units:
        by_receipt.setdefault(unit.receipt_id, []).append(unit)
    receipts = Receipt.objects.filter(case=case).select_related("warehouse", "received_by")
    for receipt in receipts.order_by("received_at", "pk"):
        outcomes = []
        for unit in by_receipt.get(receipt.pk, []):
            if unit.match == MatchResult.MATCHED:
                outcomes.append(f"{_unit_label(unit)}: matched")
            else:
                kinds = ", ".join(
                    MismatchKind(kind).label.lower() if kind in MismatchKind.values else kind
                    for kind in unit.mismatch_kinds
                )
                outcomes.append(f"{_unit_label(unit)}: mismatched ({kinds or 'no detail'})")
        flags = [
            "" if receipt.packaging_ok else "original packaging missing",
            "closed short" if receipt.closed_short else "",
            f"for {receipt.received_for}" if receipt.received_for else "",
        ]
        entries.append(
            TimelineEntry(
                at=receipt.received_at,
                kind="warehouse",
                title=f"Parcel received at {receipt.warehouse.name}",
                who=_who(receipt.received_by),
                body="; ".join(f for f in flags if f).capitalize(),
                items=tuple(outcomes),
            )
        )
    for unit in units:
        inspection = getattr(unit, "inspection", None)
        if inspection is None:
            continue
        entries.append(
            TimelineEntry(
                at=inspection.inspected_at,
                kind="warehouse",
                title=f"{_unit_label(unit)} inspected: grade {inspection.get_grade_display()}",
                who=_who(inspection.inspector),
                body=inspection.notes,
            )
        )
    if not units:
        # Dispositions and quarantines are of units: a case with none has neither.
        return entries
    labels = {unit.pk: _unit_label(unit) for unit in units}
    dispositions = Disposition.objects.filter(unit__case=case).select_related("decided_by")
    for disposition in dispositions.order_by("decided_at", "pk"):
        items = [disposition.explanation]
        if disposition.overridden:
            items.append(
                f"Overrides the suggested {disposition.get_suggested_outcome_display().lower()}: "
                f"{disposition.override_reason}"
            )
        if disposition.expected_recovery is not None:
            items.append(
                f"Expected recovery {disposition.expected_recovery} {disposition.currency} "
                f"({disposition.get_recovery_basis_display().lower()})"
            )
        entries.append(
            TimelineEntry(
                at=disposition.decided_at,
                kind="warehouse",
                title=f"{labels.get(disposition.unit_id, 'Unit')} → "
                f"{disposition.get_outcome_display().lower()}",
                who=_who(disposition.decided_by),
                items=tuple(i for i in items if i),
            )
        )
    quarantines = QuarantineRecord.objects.filter(unit__case=case).select_related(
        "quarantined_by", "released_by"
    )
    for record in quarantines.order_by("quarantined_at", "pk"):
        label = labels.get(record.unit_id, "Unit")
        entries.append(
            TimelineEntry(
                at=record.quarantined_at,
                kind="warehouse",
                title=f"{label} quarantined",
                who=_who(record.quarantined_by),
                body=record.reason,
            )
        )
        if record.released_at:
            released_to = record.get_released_to_display().lower() or "stock"
            entries.append(
                TimelineEntry(
                    at=record.released_at,
                    kind="warehouse",
                    title=f"{label} released from quarantine to {released_to}",
                    who=_who(record.released_by),
                )
            )
    return entries


REFUND_STEPS = {
    RefundState.PROPOSED: "proposed",
    RefundState.PENDING_APPROVAL: "awaiting approval",
    RefundState.APPROVED: "approved",
    RefundState.ISSUED: "issued",
    RefundState.FAILED: "failed",
    RefundState.REJECTED: "rejected",
    RefundState.ON_HOLD: "held",
    RefundState.WITHDRAWN: "withdrawn",
}


REFUND_TIMELINE_FIELDS = (
    "id",
    "state",
    "amount",
    "currency",
    "method",
    "hold_reason",
    "failure_code",
    "failure_message",
    "history_date",
    "history_change_reason",
)


def _refund_entries(case: ReturnCase) -> list[TimelineEntry]:
    """Each refund's steps from its history: proposed, approved by whom, issued or failed,
    held and released, with the reason recorded. One query."""
    entries = []
    previous: dict[int, object] = {}
    # Only what an entry shows: the history rows copy the refund's ~35 columns and the user's
    # 11, compiled on every case page and loaded for each of its refunds' steps.
    records = (
        Refund.history.filter(case_id=case.pk)
        .select_related("history_user")
        .only(*REFUND_TIMELINE_FIELDS, "history_user__username")
        .order_by("history_date", "history_id")
    )
    for record in records:
        before = previous.get(record.id)
        previous[record.id] = record
        if before is not None and before.state == record.state:
            continue
        step = REFUND_STEPS.get(record.state, record.state)
        if before is not None and before.state == RefundState.ON_HOLD:
            step = f"released from hold, {step}"
        body = record.history_change_reason or ""
        if record.state == RefundState.ON_HOLD and record.hold_reason:
            body = record.hold_reason
        if record.state == RefundState.FAILED:
            body = " — ".join(p for p in (record.failure_code, record.failure_message) if p)
        entries.append(
            TimelineEntry(
                at=record.history_date,
                kind="refund",
                title=f"Refund #{record.id} {record.amount} {record.currency} {step}",
                who=_who(record.history_user),
                body=body,
                items=(RefundMethod(record.method).label,) if before is None else (),
            )
        )
    return entries


def _day(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y}"


def _shown(record, name: str) -> str:
    value = getattr(record, name)
    if name == "state":
        return ReturnState(value).label
    if name == "ship_by" and value:
        return _day(value)
    return value or "—"


# The stage from which each refund trigger makes the refund due.
REFUND_DUE_FROM = {
    "on_authorization": ReturnState.AUTHORIZED,
    "on_receipt": ReturnState.RECEIVED,
    "on_inspection": ReturnState.INSPECTED,
}
# States in the order a case goes through them, to tell "already" from "not yet".
PROGRESS = [
    ReturnState.REQUESTED,
    ReturnState.PENDING_REVIEW,
    ReturnState.AUTHORIZED,
    ReturnState.IN_TRANSIT,
    ReturnState.DELIVERED,
    ReturnState.RECEIVED,
    ReturnState.INSPECTED,
    ReturnState.CLOSED,
]
WHEN_DUE = {
    "on_authorization": "as soon as the return is authorized",
    "on_receipt": "when the warehouse receives the parcel",
    "on_inspection": "once the warehouse has inspected the items",
}


@dataclass(frozen=True)
class NextStep:
    what_happens_next: str
    refund: str


def return_case_next_step(*, case: ReturnCase, open_exceptions: int = 0) -> NextStep:
    """A plain answer to "what happens next?" and "where is my refund?" for the agent."""
    state = case.state
    if state in VOID_STATES:
        return NextStep(
            f"Nothing: the return was {case.get_state_display().lower()}. "
            f"{case.outcome_reason}".strip(),
            "No refund: nothing is coming back.",
        )
    shipping = (
        "(return shipping is on us)"
        if case.return_shipping_paid_by == "merchant"
        else "at their own cost (the policy does not cover return shipping)"
    )
    steps = {
        ReturnState.REQUESTED: "The policy is deciding the request.",
        ReturnState.PENDING_REVIEW: (
            "A fraud review must be resolved by an operations manager, then the case is "
            "authorized or rejected."
            if open_exceptions
            else "A colleague reviews the request and authorizes or rejects it; the customer "
            "is e-mailed either way."
        ),
        ReturnState.AUTHORIZED: (
            f"The customer ships the parcel {shipping}"
            + (f" by {_day(case.ship_by)}; after that the return expires." if case.ship_by else ".")
        ),
        ReturnState.IN_TRANSIT: f"The parcel is on its way with {case.carrier} "
        f"(tracking {case.tracking_number}).",
        ReturnState.DELIVERED: "The carrier delivered it; the warehouse books it in next.",
        ReturnState.RECEIVED: "The warehouse inspects the items next.",
        ReturnState.INSPECTED: "The case is closed once any open exception is resolved.",
        ReturnState.CLOSED: "Nothing: the return is complete.",
    }
    due_from = REFUND_DUE_FROM[case.refund_trigger]
    fee = (
        f" less a {case.restocking_fee_percent.normalize()} % restocking fee"
        if case.restocking_fee_percent
        else ""
    )
    if case.resolution != "refund":
        refund = (
            f"No refund: the customer chose {case.get_resolution_display().lower()}, "
            f"which is issued {WHEN_DUE[case.refund_trigger]}."
        )
    elif PROGRESS.index(state) >= PROGRESS.index(due_from):
        refund = (
            f"Due now{fee}: the refund is released {WHEN_DUE[case.refund_trigger]}, "
            "and this return has reached that point. Finance issues it to the original payment."
        )
    else:
        refund = f"Not yet due: the refund{fee} is released {WHEN_DUE[case.refund_trigger]}."
    return NextStep(steps[state], refund)


def return_case_api_list() -> QuerySet[ReturnCase]:
    """Cases with what the API shows of them, in three queries per page."""
    return ReturnCase.objects.select_related(
        "channel", "order", "customer", "rule_set", "deciding_rule"
    ).prefetch_related(
        Prefetch(
            "lines",
            queryset=ReturnLine.objects.select_related("order_line__product", "reason"),
        )
    )


# ---- Policy rule sets and their simulation ---------------------------------------------------


def policy_rule_set_list() -> QuerySet[PolicyRuleSet]:
    return PolicyRuleSet.objects.annotate(rule_count=Count("rules")).order_by("-version")


def policy_rule_set_get(*, pk: int) -> PolicyRuleSet:
    rules = PolicyRule.objects.select_related("channel", "category", "reason_code").order_by(
        "-priority", "id"
    )
    return PolicyRuleSet.objects.prefetch_related(Prefetch("rules", queryset=rules)).get(pk=pk)


def policy_edit_list(*, rule_set: PolicyRuleSet, limit: int = 100) -> list[PolicyEdit]:
    """The draft's edit log, newest first: who changed which rule, when and why."""
    return list(rule_set.edits.select_related("actor")[:limit])


# What a person compares between two decisions of the same line.
OUTCOME_FIELDS = (
    "decision",
    "return_window_days",
    "refund_trigger",
    "restocking_fee_percent",
    "return_shipping_paid_by",
)


@dataclass(frozen=True)
class SimulatedLine:
    case: ReturnCase
    line: ReturnLine
    before: str
    after: str


@dataclass(frozen=True)
class Simulation:
    cases: int
    changed_cases: int
    changed: tuple[SimulatedLine, ...]
    uncovered: int


def _outcome(rule_or_decision) -> str:
    label = DecisionKind(rule_or_decision.decision).label
    return (
        f"{label}, {rule_or_decision.return_window_days} days, "
        f"refund {RefundTrigger(rule_or_decision.refund_trigger).label.lower()}, "
        f"fee {rule_or_decision.restocking_fee_percent.normalize()} %, "
        f"shipping by {rule_or_decision.return_shipping_paid_by}"
    )


def policy_rule_set_simulate(*, rule_set: PolicyRuleSet, last: int = 200) -> Simulation:
    """Re-decide the lines of the last `last` cases under `rule_set` as of when each was
    requested, and list the lines whose outcome would differ. Three queries; writes nothing.

    The customer's segment is today's: segments are not kept per date.
    """
    rules = list(rule_set.rules.all())
    lines = ReturnLine.objects.select_related("order_line__product__category", "reason", "rule")
    cases = list(
        ReturnCase.objects.select_related("order__channel", "order__customer")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-requested_at", "-pk")[:last]
    )
    changed = []
    changed_cases = set()
    uncovered = 0
    for case in cases:
        for line in case.lines.all():
            facts = line_facts(
                order=case.order,
                line=line.order_line,
                reason_code_id=line.reason_id,
                now=case.requested_at,
            )
            try:
                decision = policy_decide(rules=rules, facts=facts)
            except NoRuleMatches:
                uncovered += 1
                changed_cases.add(case.pk)
                continue
            if not decision.eligible:
                after = f"Not eligible: {decision.reason}"
            else:
                after = _outcome(decision)
            before = _outcome(line.rule)
            if before != after:
                changed.append(SimulatedLine(case, line, before, f"{after} ({decision.rule_name})"))
                changed_cases.add(case.pk)
    return Simulation(
        cases=len(cases),
        changed_cases=len(changed_cases),
        changed=tuple(changed),
        uncovered=uncovered,
    )


def policy_rule_set_try(
    *, rule_set: PolicyRuleSet, order_number: str, line_number: int, reason_code: str
):
    """Decide one order line under `rule_set` as if it were returned now, for the simulate
    screen. Returns (decision, None) or (None, what went wrong)."""
    line = (
        OrderLine.objects.select_related("order__channel", "order__customer", "product__category")
        .filter(order__number=order_number.strip().lstrip("#"), line_number=line_number)
        .first()
    )
    if line is None:
        return None, f"Order {order_number} has no line {line_number}."
    reason = ReasonCode.objects.filter(code=reason_code).first()
    if reason is None:
        return None, f"Unknown reason code “{reason_code}”."
    facts = line_facts(order=line.order, line=line, reason_code_id=reason.pk, now=timezone.now())
    try:
        return policy_decide(rules=list(rule_set.rules.all()), facts=facts), None
    except NoRuleMatches:
        return None, "No rule of this set covers that line."
