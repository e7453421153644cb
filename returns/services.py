"""The returns workflow's write path: publish a policy, open a return case from an order and
move it through its life. Every state change of a case goes through one of these."""

import copy
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial, wraps

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from erp.history import (
    create_with_history,
    field_values,
    fields_changed,
    save_with_history,
    update_with_history,
)
from erp.models import ExceptionCase, OrderLine, OutboxMessage, ReasonCode, SalesOrder
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType
from erp.selectors import open_exceptions_exist
from erp.services import exception_open, outbox_enqueue_noted, outbox_enqueue_noted_many
from erp.validators import validate_photo
from inventory import services as inventory
from inventory.models import CauseType, InventoryUnit, MovementKind, StockBalance, StockMovement
from inventory.models import StockState as Stock

from . import selectors
from .models import (
    DecisionKind,
    PolicyRule,
    PolicyRuleSet,
    RefundTrigger,
    Resolution,
    ReturnCase,
    ReturnCaseMessage,
    ReturnLine,
    ReturnPhoto,
    Source,
)
from .policy import Decision, NoRuleMatches, days_between, line_facts, policy_decide
from .refunds import case_refund_evaluate, case_refunds_withdraw
from .risk import LineRisk, RiskAssessment, risk_assess

CREATE_PERMISSION = "returns.add_returncase"
PUBLISH_PERMISSION = "returns.publish_return_policy"
MESSAGE_TOPIC = "customer.message"  # sent by returns.messages
# An authorized customer always gets at least this long to ship, even when authorization
# came on the last day of the window (a review can take days).
MIN_DAYS_TO_SHIP = 7
# Expiry runs in batches so a backlog drains without long-held locks.
EXPIRY_BATCH = 500

# How restrictive a decision is: a case follows its most restrictive line.
DECISION_RANK = {
    DecisionKind.AUTO_AUTHORIZE: 0,
    DecisionKind.MANUAL_REVIEW: 1,
    DecisionKind.DENY: 2,
}
TRIGGER_RANK = {
    RefundTrigger.ON_AUTHORIZATION: 0,
    RefundTrigger.ON_RECEIPT: 1,
    RefundTrigger.ON_INSPECTION: 2,
}
Template = ReturnCaseMessage.Template
PAST_TENSE = {
    "authorize": "authorized",
    "reject": "rejected",
    "cancel": "cancelled",
    "ship": "shipped",
    "deliver": "delivered",
    "receive": "received",
    "inspect": "inspected",
    "close": "closed",
    "expire": "expired",
}


# ---- Policy ---------------------------------------------------------------------------------


@transaction.atomic
def policy_rule_set_publish(*, rule_set_id: int, actor: AbstractBaseUser) -> PolicyRuleSet:
    """Publish a draft rule set.

    Effects: locks the rule sets; refuses without `publish_return_policy`, on a set that is not
    a draft or has no rules; retires the published set and publishes this one. Cases already
    decided keep their rule and decision: they point at rows that are never edited.
    """
    if not actor.has_perm(PUBLISH_PERMISSION):
        raise PermissionDenied("You may not publish return policies.")
    sets = {s.pk: s for s in PolicyRuleSet.objects.select_for_update().order_by("pk")}
    rule_set = sets.get(rule_set_id)
    if rule_set is None:
        raise PolicyRuleSet.DoesNotExist(rule_set_id)
    if rule_set.state != PolicyRuleSet.State.DRAFT:
        raise ValidationError(f"Version {rule_set.version} is not a draft; copy it to change it.")
    if not rule_set.rules.exists():
        raise ValidationError("A rule set without rules would decide nothing.")
    for other in sets.values():
        if other.state == PolicyRuleSet.State.PUBLISHED:
            other.state = PolicyRuleSet.State.RETIRED
            other._change_reason = f"Retired by version {rule_set.version}"
            other.save()
    rule_set.state = PolicyRuleSet.State.PUBLISHED
    rule_set.published_at = timezone.now()
    rule_set.published_by = actor
    rule_set._change_reason = "Published"
    rule_set._history_user = actor
    rule_set.save()
    return rule_set


@transaction.atomic
def policy_rule_set_copy(
    *, rule_set_id: int, actor: AbstractBaseUser, name: str = ""
) -> PolicyRuleSet:
    """Start a new draft version from an existing rule set.

    Effects: refuses without `publish_return_policy`; creates a draft with the next version
    number and a copy of every rule; the source is untouched.
    """
    if not actor.has_perm(PUBLISH_PERMISSION):
        raise PermissionDenied("You may not draft return policies.")
    source = PolicyRuleSet.objects.get(pk=rule_set_id)
    last = PolicyRuleSet.objects.select_for_update().order_by("-version").first()
    draft = PolicyRuleSet(
        version=last.version + 1, name=name or source.name, notes=f"Copied from v{source.version}"
    )
    why = f"Drafted from v{source.version}"
    _save(draft, actor=actor, why=why)
    for rule in source.rules.order_by("pk"):
        rule.pk = None
        rule.rule_set = draft
        _save(rule, actor=actor, why=why)
    return draft


# ---- Opening a case -------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    """One line of a return request: which order line, how many, why, in what state."""

    order_line_id: int
    quantity: int
    reason_code: str
    claimed_condition: str
    comment: str = ""


@dataclass(frozen=True)
class Evaluation:
    """What the policy and the risk screening say about a request, before anything is saved."""

    order: SalesOrder
    lines: tuple[tuple[OrderLine, LineRequest, ReasonCode, Decision], ...]
    deciding: Decision
    risk: RiskAssessment
    now: datetime

    @property
    def eligible(self) -> bool:
        return all(decision.eligible for *_, decision in self.lines)

    @property
    def held(self) -> bool:
        return self.deciding.decision == DecisionKind.MANUAL_REVIEW or self.risk.is_high

    @property
    def resolutions(self) -> set[str]:
        offered = [set(decision.resolutions) for *_, decision in self.lines]
        return set.intersection(*offered)

    @property
    def summary(self) -> str:
        if not self.eligible:
            return "Not eligible"
        if self.risk.is_high:
            return "Held for fraud review"
        if self.held:
            return "Held for manual review"
        return "Authorized automatically"

    def as_json(self) -> dict:
        return {
            "summary": self.summary,
            "deciding_rule_id": self.deciding.rule_id,
            "lines": [
                {"line_number": line.line_number, **decision.as_json()}
                for line, _, _, decision in self.lines
            ],
        }


def return_request_evaluate(
    *, order: SalesOrder, requests: Sequence[LineRequest], now: datetime | None = None
) -> Evaluation:
    """Check a request and decide it under the published policy, writing nothing.

    Refuses (ValidationError naming the field) an empty request, a line of another order, the
    same line twice, a quantity over what is still returnable, an unknown reason code, a
    missing published policy or a line no rule covers. Ineligible lines are not refused here:
    the evaluation says so, and `return_case_create` refuses them.
    """
    now = now or timezone.now()
    if not requests:
        raise ValidationError({"lines": "Pick at least one line to return."})
    known = _create_batch.get()
    if known is not None and order.pk not in known.orders:
        known = None
    rule_set = known.rule_set if known else selectors.published_rule_set()
    if rule_set is None:
        raise ValidationError(
            "No return policy is published; an operations manager must publish one."
        )
    if known:
        rules = known.rules
        lines = {line.pk: line for line in known.returnable_lines(order)}
        reasons = {
            req.reason_code: known.reasons[req.reason_code]
            for req in requests
            if req.reason_code in known.reasons
        }
    else:
        rules = list(rule_set.rules.all())
        lines = {line.pk: line for line in selectors.returnable_lines(order=order)}
        reasons = {
            r.code: r
            for r in ReasonCode.objects.filter(
                code__in=[req.reason_code for req in requests], is_active=True
            )
        }
    seen = set()
    decided = []
    for req in requests:
        line = lines.get(req.order_line_id)
        if line is None:
            raise ValidationError({"lines": f"Line {req.order_line_id} is not on order {order}."})
        if line.pk in seen:
            raise ValidationError({"lines": f"Line {line.line_number} is listed twice."})
        seen.add(line.pk)
        if req.quantity < 1 or req.quantity > line.returnable:
            raise ValidationError(
                {
                    "quantity": f"Line {line.line_number}: {req.quantity} requested, but only "
                    f"{line.returnable} of {line.quantity} can still be returned."
                }
            )
        reason = reasons.get(req.reason_code)
        if reason is None:
            raise ValidationError(
                {"reason": f"Unknown or inactive reason code “{req.reason_code}”."}
            )
        facts = line_facts(order=order, line=line, reason_code_id=reason.pk, now=now)
        try:
            decision = policy_decide(rules=rules, facts=facts)
        except NoRuleMatches as error:
            raise ValidationError(
                f"Line {line.line_number}: the published policy (v{rule_set.version}) has no "
                "rule for it; ask an operations manager."
            ) from error
        decided.append((line, req, reason, decision))
    deciding = max(
        (decision for *_, decision in decided),
        key=lambda d: (DECISION_RANK[d.decision], TRIGGER_RANK[d.refund_trigger]),
    )
    risk = risk_assess(
        facts=selectors.risk_facts(
            order=order,
            lines=[
                LineRisk(
                    sku=line.product.sku,
                    unit_value=line.unit_price,
                    is_high_value=line.product.is_high_value,
                    serial_tracked=line.product.tracking == line.product.Tracking.SERIAL,
                    reason_group=reason.group,
                    claimed_condition=req.claimed_condition,
                )
                for line, req, reason, _ in decided
            ],
            days_since_delivery=days_between(now, order.delivered_at),
            return_window_days=deciding.return_window_days,
            history=known.histories.get(order.customer_id) if known else None,
        )
    )
    return Evaluation(order=order, lines=tuple(decided), deciding=deciding, risk=risk, now=now)


def _check_photos(photos: Sequence[UploadedFile]) -> None:
    for photo in photos:
        validate_photo(photo)


def _new_rma_number() -> str:
    # Unguessable, so a customer cannot walk other customers' RMAs; 32^8 values.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "RMA-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _ship_by(case: ReturnCase, now: datetime) -> datetime:
    window_days = min(line["return_window_days"] for line in case.decision["lines"])
    window_end = (case.order.delivered_at or now) + timedelta(days=window_days)
    return max(window_end, now + timedelta(days=MIN_DAYS_TO_SHIP))


@dataclass(frozen=True)
class _CreateLookups:
    """What opening cases on a batch's orders reads, read once for the batch; `claimed` and
    `histories` follow the cases the batch opens (`undo` takes a failed request's share
    back)."""

    rule_set: PolicyRuleSet | None
    rules: list[PolicyRule]
    reasons: dict[str, ReasonCode]  # the active reason codes
    orders: dict[int, SalesOrder]  # with channel and customer; their lines locked
    lines: dict[int, list[OrderLine]]  # order → its lines, with product and category
    claimed: dict[int, int]  # order line → units live cases claim
    histories: dict[int, selectors.CustomerReturnHistory]  # customer → return history
    undo: list[Callable[[], None]]
    # The opened cases' customer messages and their notes, queued when the batch ends.
    messages: list[tuple[OutboxMessage, ReturnCaseMessage]] = field(default_factory=list)

    def returnable_lines(self, order: SalesOrder) -> list[OrderLine]:
        """As `selectors.returnable_lines`, from the batch's reads."""
        return selectors.with_returnable(order, self.lines.get(order.pk, []), claimed=self.claimed)

    def opened(self, case: ReturnCase, evaluation: "Evaluation") -> None:
        """A case was opened in the batch: its units are claimed, its customer has it."""
        for line, req, *_ in evaluation.lines:
            self.claimed[line.pk] = self.claimed.get(line.pk, 0) + req.quantity
            self.undo.append(partial(self._unclaim, line.pk, req.quantity))
        history = self.histories.get(case.customer_id)
        if history is not None:
            history.live_cases.append((case.pk, case.order_id))
            self.undo.append(history.live_cases.pop)

    def _unclaim(self, line_id: int, quantity: int) -> None:
        self.claimed[line_id] -= quantity


_create_batch: ContextVar[_CreateLookups | None] = ContextVar("case_create_batch", default=None)


@contextmanager
def return_cases_create_prepare(*, order_ids: Collection[int]) -> Iterator[None]:
    """Inside: `return_case_create` on these orders reads the published policy, the active
    reason codes, the order, its lines and what is claimed of them, and the customer's
    return history from the eight queries made here for the whole batch, instead of eleven
    per case; and it writes without a savepoint of its own, since the caller undoes a
    failed case (see `return_case_create_step`).

    For a batch of the inbox, inside its transaction: a failed event's writes are undone by
    the event's savepoint, or by running the batch again. Effects: locks the orders' lines
    (in id order), as `return_case_create` locks each order's."""
    rule_set = selectors.published_rule_set()
    orders = SalesOrder.objects.select_related("channel", "customer").in_bulk(order_ids)
    lines: dict[int, list[OrderLine]] = {}
    for line in (
        OrderLine.objects.select_for_update(of=("self",))
        .select_related("product__category")
        .filter(order_id__in=orders)
        .order_by("pk")
    ):
        lines.setdefault(line.order_id, []).append(line)
    claimed = selectors.returned_quantities(
        order_line_ids=[line.pk for of_order in lines.values() for line in of_order]
    )
    known = _CreateLookups(
        rule_set=rule_set,
        rules=list(rule_set.rules.all()) if rule_set else [],
        reasons={r.code: r for r in ReasonCode.objects.filter(is_active=True)},
        orders=orders,
        lines=lines,
        claimed=claimed,
        histories=selectors.customer_return_histories(
            customer_ids={order.customer_id for order in orders.values()}
        ),
        undo=[],
    )
    token = _create_batch.set(known)
    try:
        yield
    finally:
        _create_batch.reset(token)
    # Before the caller's own end-of-batch writes, as one case at a time queues them: when
    # the case is opened. Should it fail, the caller's batch fails with it (the inbox then
    # runs the batch again isolated).
    _messages_queue(known)


@contextmanager
def return_case_create_step() -> Iterator[None]:
    """Around one request of a prepared batch: when it raises, what its cases added to the
    batch's reads is taken back with it (its writes are the caller's to roll back)."""
    known = _create_batch.get()
    mark = len(known.undo) if known else 0
    try:
        yield
    except BaseException:
        while known and len(known.undo) > mark:
            known.undo.pop()()
        raise


def return_case_create(
    *,
    order_id: int,
    requests: Sequence[LineRequest],
    resolution: str,
    actor: AbstractBaseUser,
    source: str = Source.CUSTOMER_SERVICE,
    note: str = "",
    photos: Sequence[UploadedFile] = (),
) -> ReturnCase:
    """Open a return case for lines of an order and apply the policy's decision to it.

    Effects: refuses without `add_returncase`; locks the order's lines (so two requests cannot
    both claim the last unit); refuses what `return_request_evaluate` refuses, an ineligible
    line (with the policy's reason) and a resolution the policy does not offer — writing
    nothing. Otherwise creates the case and its lines with the rule set, the deciding rule,
    the decision and the risk screening frozen on them, then: authorizes it (the policy
    decided; no permission needed) and queues the "authorized" message, or holds it for review
    and queues the "under review" message — opening a fraud_review exception when the risk is
    high. Messages are outbox rows in this transaction; nothing is sent before commit.
    `photos` (images of at most MAX_UPLOAD_BYTES each) are stored as the case's evidence.
    One transaction; inside `return_cases_create_prepare` (a batch), the batch's.
    """
    known = _create_batch.get()
    if known is not None and order_id not in known.orders:
        known = None
    with transaction.atomic() if known is None else nullcontext():
        if not actor.has_perm(CREATE_PERMISSION):
            raise PermissionDenied("You may not open return cases.")
        _check_photos(photos)
        if known is not None:
            order = known.orders[order_id]  # its lines were locked for the batch
        else:
            order = SalesOrder.objects.select_related("channel", "customer").get(pk=order_id)
            list(OrderLine.objects.select_for_update().filter(order=order).order_by("pk"))
        evaluation = return_request_evaluate(order=order, requests=requests)
        if not evaluation.eligible:
            raise ValidationError(
                {
                    "lines": [
                        f"Line {line.line_number}: {decision.reason}"
                        for line, *_, decision in evaluation.lines
                        if not decision.eligible
                    ]
                }
            )
        if resolution not in evaluation.resolutions:
            raise ValidationError(
                {"resolution": "The policy does not offer that resolution for these lines."}
            )
        deciding = evaluation.deciding
        case = ReturnCase(
            channel=order.channel,
            order=order,
            customer=order.customer,
            source=source,
            resolution=resolution,
            rule_set_id=deciding.rule_set_id,
            deciding_rule_id=deciding.rule_id,
            decision=evaluation.as_json(),
            refund_trigger=deciding.refund_trigger,
            restocking_fee_percent=deciding.restocking_fee_percent,
            return_shipping_paid_by=deciding.return_shipping_paid_by,
            risk_score=evaluation.risk.score,
            risk_level=evaluation.risk.level,
            risk_signals=evaluation.risk.signals_json(),
            expected_warehouse_id=order.ship_from_id,
            agent_note=note,
            created_by=actor,
            requested_at=evaluation.now,
        )
        for _attempt in range(5):
            case.rma_number = _new_rma_number()
            if create_with_history(
                case,
                actor=actor,
                why=f"Requested via {Source(source).label.lower()}",
                unless_taken=("rma_number",),
            ):
                break
        else:
            raise RuntimeError("Could not draw a free RMA number.")
        for line, req, reason, decision in evaluation.lines:
            # One statement a line with its history row: a request has one or two lines, for
            # which a bulk insert and its history's bulk insert cost as many or more.
            create_with_history(
                ReturnLine(
                    case=case,
                    order_line=line,
                    quantity=req.quantity,
                    reason=reason,
                    claimed_condition=req.claimed_condition,
                    customer_comment=req.comment,
                    unit_price=line.unit_price,
                    rule_id=decision.rule_id,
                ),
                actor=actor,
                why="Requested",
            )
        for photo in photos:
            # The file is written now; should the transaction roll back, it is an orphan file on
            # disk, never a row pointing at nothing.
            ReturnPhoto.objects.create(
                case=case,
                image=photo,
                content_type=photo.content_type,
                size=photo.size,
                uploaded_by=actor,
            )
        before = field_values(case)
        if evaluation.held:
            case.hold_for_review()
            why = "Held for fraud review" if evaluation.risk.is_high else "Held for manual review"
            update_with_history(
                case,
                actor=None,
                why=f"{why} (policy: {deciding.rule_name})",
                fields=fields_changed(case, before),
            )
            if evaluation.risk.is_high:
                exception_open(
                    kind=ExceptionKind.FRAUD_REVIEW,
                    subject_type=SubjectType.RETURN_CASE,
                    subject_id=case.pk,
                    subject_label=case.rma_number,
                    summary=f"Risk score {case.risk_score} on {case.rma_number}",
                    details="\n".join(s["detail"] for s in case.risk_signals),
                    evidence={"risk_score": case.risk_score, "signals": case.risk_signals},
                    sales_order=order,
                )
            _message(case, Template.UNDER_REVIEW, batch=known)
        else:
            case.authorize(ship_by=_ship_by(case, evaluation.now))
            update_with_history(
                case,
                actor=None,
                why=f"Authorized by policy: {deciding.rule_name}",
                fields=fields_changed(case, before),
            )
            _exchange_reserve(case, actor=actor)
            _message(case, Template.AUTHORIZED, batch=known)
            # Another trigger proposes nothing now: no need to lock and read the case to learn so.
            if case.refund_trigger == RefundTrigger.ON_AUTHORIZATION:
                case_refund_evaluate(
                    case_id=case.pk, stage=RefundTrigger.ON_AUTHORIZATION, actor=actor
                )
        if known is not None:
            known.opened(case, evaluation)
        return case


# ---- Exchanges -------------------------------------------------------------------------------


def _exchange_reserve(case: ReturnCase, *, actor: AbstractBaseUser | None) -> None:
    """Hold the replacement units of an exchange as the case is authorized: the same SKU and
    quantity, from the expected warehouse when it has them, else from the location with most
    available. None in stock is a ValidationError the agent can act on."""
    if case.resolution != Resolution.EXCHANGE:
        return
    for line in case.lines.select_related("order_line__product"):
        product = line.order_line.product
        balances = StockBalance.objects.filter(
            product=product, state=Stock.AVAILABLE, qty__gte=line.quantity
        ).order_by("-qty", "pk")
        balance = None
        if case.expected_warehouse_id:
            balance = balances.filter(location__warehouse_id=case.expected_warehouse_id).first()
        balance = balance or balances.first()
        if balance is None:
            raise ValidationError(
                {"resolution": f"No {product.sku} in stock to exchange: offer a refund or credit."}
            )
        serials = []
        if product.tracking == product.Tracking.SERIAL:
            serials = list(
                InventoryUnit.objects.filter(
                    product=product, location=balance.location_id, state=Stock.AVAILABLE
                )
                .order_by("serial")
                .values_list("serial", flat=True)[: line.quantity]
            )
        inventory.stock_reserve(
            product_id=product.pk,
            location_id=balance.location_id,
            qty=line.quantity,
            lot=balance.lot,
            serials=serials,
            idempotency_key=f"return_case:{case.pk}:exchange:{line.pk}",
            actor=actor,
            cause_type=CauseType.RETURN_CASE,
            cause_id=str(case.pk),
        )


def _exchange_release(case: ReturnCase, *, actor: AbstractBaseUser | None) -> None:
    """Give back what `_exchange_reserve` held for a case that will not be exchanged."""
    reserved = StockMovement.objects.filter(
        cause_type=CauseType.RETURN_CASE, cause_id=str(case.pk), kind=MovementKind.RESERVE
    ).select_related("unit")
    for movement in reserved.order_by("pk"):
        inventory.stock_release(
            product_id=movement.product_id,
            location_id=movement.to_location_id,
            qty=movement.qty,
            lot=movement.lot,
            serials=[movement.unit.serial] if movement.unit_id else [],
            idempotency_key=f"return_case:{case.pk}:exchange-release:{movement.pk}",
            actor=actor,
            cause_type=CauseType.RETURN_CASE,
            cause_id=str(case.pk),
        )


# ---- Moving a case along --------------------------------------------------------------------


_save = save_with_history


def _message(case: ReturnCase, template: str, *, batch: "_CreateLookups | None" = None) -> None:
    """Queue the customer's message and note it on the case; in a batch opening cases
    (`batch`), when the batch ends, with the batch's others (`_messages_queue`)."""
    message = OutboxMessage(
        topic=MESSAGE_TOPIC,
        payload={
            "template": template,
            "case_id": case.pk,
            "rma_number": case.rma_number,
            "to": case.customer.email,
        },
        dedupe_key=f"return_case:{case.pk}:{template}",
        # The customer reads "authorized" before "received", never the other way round.
        ordering_key=f"return_case:{case.pk}",
    )
    note = ReturnCaseMessage(case=case, template=template)
    if batch is not None:
        batch.messages.append((message, note))
        batch.undo.append(batch.messages.pop)
        return
    outbox_enqueue_noted(
        topic=message.topic,
        payload=message.payload,
        dedupe_key=message.dedupe_key,
        ordering_key=message.ordering_key,
        note=note,
        message_id_field="outbox_message_id",
    )


def _messages_queue(batch: "_CreateLookups") -> None:
    """The messages of the cases a batch opened, with their notes, in their order: three
    statements for the batch instead of one a case."""
    outbox_enqueue_noted_many(batch.messages, message_id_field="outbox_message_id")


def _required(text: str, field: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError({field: what})
    return text


_held: ContextVar[dict[int, ReturnCase] | None] = ContextVar("held_cases", default=None)


@contextmanager
def return_cases_held(cases: dict[int, ReturnCase]) -> Iterator[None]:
    """Inside: `return_case_ship` and `return_case_mark_delivered` of these cases, which the
    caller locked in its transaction and keeps current, move a copy of the caller's
    instance and put it back in `cases`, instead of reading and locking the case again
    inside a savepoint of their own. For a batch of the inbox: a failed event's writes are
    undone by its savepoint, or by running the batch again, and the caller puts back the
    instance it had."""
    token = _held.set(cases)
    try:
        yield
    finally:
        _held.reset(token)


def _atomic_unless_held(service: Callable[..., ReturnCase]) -> Callable[..., ReturnCase]:
    """`transaction.atomic`, but for a case held by the caller (`return_cases_held`)."""
    atomic = transaction.atomic(service)

    @wraps(service)
    def run(*, case_id: int, **kwargs) -> ReturnCase:
        held = _held.get()
        if held is not None and case_id in held:
            return service(case_id=case_id, **kwargs)
        return atomic(case_id=case_id, **kwargs)

    return run


def _transition(
    *,
    case_id: int,
    name: str,
    actor: AbstractBaseUser | None,
    why: str,
    check: Callable[[ReturnCase], None] | None = None,
    check_permission: bool = True,
    **kwargs,
) -> ReturnCase:
    """Lock the case, refuse what its state or the actor does not allow, apply `name`, save.

    `check_permission=False` is for a step whose right was checked elsewhere (the fraud
    review's resolver): `actor` is then only recorded as who did it."""
    held = _held.get()
    if held is not None and case_id in held:
        # A copy: should the step fail, the caller's instance still says what the row says.
        case = copy.copy(held[case_id])
    else:
        case = (
            ReturnCase.objects.select_related("order", "customer")
            .select_for_update(of=("self",))
            .get(pk=case_id)
        )
    method = getattr(case, name)
    if not can_proceed(method):
        raise TransitionNotAllowed(
            f"This return is {case.get_state_display().lower()}: it cannot be {PAST_TENSE[name]}.",
            object=case,
            method=method,
        )
    if actor is not None and check_permission and not has_transition_perm(method, actor):
        raise PermissionDenied(f"You may not {name} returns.")
    if check:
        check(case)
    before = field_values(case)
    method(**kwargs)
    update_with_history(case, actor=actor, why=why, fields=fields_changed(case, before))
    if held is not None and case_id in held:
        held[case_id] = case
    return case


def _no_open_fraud_review(case: ReturnCase) -> None:
    if ExceptionCase.objects.filter(
        kind=ExceptionKind.FRAUD_REVIEW,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=str(case.pk),
        state__in=ACTIVE_STATES,
    ).exists():
        raise ValidationError("Resolve the fraud review exception before authorizing.")


@transaction.atomic
def return_case_authorize(*, case_id: int, actor: AbstractBaseUser, note: str = "") -> ReturnCase:
    """Authorize a requested or held return.

    Effects: locks the case; refuses in another state (TransitionNotAllowed), without
    `authorize_return` (PermissionDenied) or while a fraud review is open (ValidationError);
    moves it to authorized with its ship-by date, records why, queues the "authorized"
    message with the return instructions, and proposes the refund when the policy refunds
    on authorization (returns.refunds).
    """
    return _authorize(case_id=case_id, actor=actor, why=note.strip() or "Authorized")


def _authorize(
    *, case_id: int, actor: AbstractBaseUser | None, why: str, check_permission: bool = True
) -> ReturnCase:
    now = timezone.now()
    case = ReturnCase.objects.select_related("order").get(pk=case_id)
    case = _transition(
        case_id=case_id,
        name="authorize",
        actor=actor,
        why=why,
        check=_no_open_fraud_review,
        check_permission=check_permission,
        ship_by=_ship_by(case, now),
    )
    _exchange_reserve(case, actor=actor)
    _message(case, Template.AUTHORIZED)
    case_refund_evaluate(case_id=case.pk, stage=RefundTrigger.ON_AUTHORIZATION, actor=actor)
    return case


def _policy_wants_review(case: ReturnCase) -> bool:
    """The policy itself held a line for manual review (not only the risk screening)."""
    return any(
        line["decision"] == DecisionKind.MANUAL_REVIEW for line in case.decision.get("lines", [])
    )


@transaction.atomic
def return_case_fraud_review_conclude(
    *, case_id: int, actor: AbstractBaseUser | None, confirmed: bool, reason: str
) -> ReturnCase | None:
    """Move a held case on once its fraud review is resolved (the resolution handler in
    `returns.fraud_review` calls this; the resolver's `manage_exceptions` is the permission,
    so `actor` is recorded as who did it, not checked again).

    Effects: locks the case; a case no longer pending review (someone authorized, rejected or
    cancelled it meanwhile), or one that does not exist (None), is left as it is. Fraud
    confirmed → rejected with the review's reason, and the "rejected" message queued. Cleared
    → authorized as the policy decided, with the "authorized" message, the exchange's
    reservation and an on-authorization refund, as
    `return_case_authorize`; but when the policy itself asked for a manual review the case
    stays pending review for a person, with the cleared review in its history.
    """
    case = ReturnCase.objects.select_for_update(of=("self",)).filter(pk=case_id).first()
    if case is None or case.state != ReturnCase.State.PENDING_REVIEW:
        return case
    reason = reason.strip()
    if confirmed:
        case = _transition(
            case_id=case_id,
            name="reject",
            actor=actor,
            why=f"Rejected after fraud review: {reason}",
            check_permission=False,
            reason=reason,
        )
        _message(case, Template.REJECTED)
        return case
    if _policy_wants_review(case):
        _save(
            case, actor=actor, why=f"Fraud review cleared; the policy still asks a person: {reason}"
        )
        return case
    return _authorize(
        case_id=case_id,
        actor=actor,
        why=f"Authorized after fraud review: {reason}",
        check_permission=False,
    )


@transaction.atomic
def return_case_reject(*, case_id: int, actor: AbstractBaseUser, reason: str) -> ReturnCase:
    """Effects: as authorize, with `reject_return`; a reason is required and told to the
    customer in the "rejected" message."""
    reason = _required(reason, "reason", "Say why; the customer is told.")
    case = _transition(
        case_id=case_id, name="reject", actor=actor, why=f"Rejected: {reason}", reason=reason
    )
    _message(case, Template.REJECTED)
    return case


@transaction.atomic
def return_case_cancel(*, case_id: int, actor: AbstractBaseUser, reason: str) -> ReturnCase:
    """Effects: cancels a case not yet shipped, with `cancel_return` and a reason; its units
    can be claimed again; its unpaid refunds are withdrawn (returns.refunds); queues the
    "cancelled" message."""
    reason = _required(reason, "reason", "Say why it is cancelled.")
    case = _transition(
        case_id=case_id, name="cancel", actor=actor, why=f"Cancelled: {reason}", reason=reason
    )
    _exchange_release(case, actor=actor)
    case_refunds_withdraw(case_id=case.pk, reason=f"Return {case.rma_number} cancelled: {reason}")
    _message(case, Template.CANCELLED)
    return case


@_atomic_unless_held
def return_case_ship(
    *, case_id: int, actor: AbstractBaseUser, carrier: str, tracking_number: str
) -> ReturnCase:
    """Effects: records that an authorized return left with `carrier` under
    `tracking_number` (both required), with `record_return_shipment`."""
    carrier = _required(carrier, "carrier", "Name the carrier.")
    tracking_number = _required(tracking_number, "tracking_number", "Give the tracking number.")
    return _transition(
        case_id=case_id,
        name="ship",
        actor=actor,
        why=f"Shipped with {carrier}",
        carrier=carrier,
        tracking_number=tracking_number,
    )


@_atomic_unless_held
def return_case_mark_delivered(*, case_id: int, actor: AbstractBaseUser) -> ReturnCase:
    """Effects: the carrier delivered the parcel to the warehouse (`record_return_shipment`)."""
    return _transition(case_id=case_id, name="deliver", actor=actor, why="Delivered by carrier")


@transaction.atomic
def return_case_receive(*, case_id: int, actor: AbstractBaseUser) -> ReturnCase:
    """Effects: the warehouse received the parcel (`receive_return`); queues the "received"
    message."""
    case = _transition(case_id=case_id, name="receive", actor=actor, why="Received")
    _message(case, Template.RECEIVED)
    return case


@transaction.atomic
def return_case_inspect(*, case_id: int, actor: AbstractBaseUser, note: str = "") -> ReturnCase:
    """Effects: the returned units were inspected (`inspect_return`)."""
    return _transition(
        case_id=case_id, name="inspect", actor=actor, why=note.strip() or "Inspected"
    )


def _no_open_exceptions(case: ReturnCase) -> None:
    if open_exceptions_exist(subject_type=SubjectType.RETURN_CASE, subject_id=case.pk):
        raise ValidationError("Resolve or dismiss the case's open exceptions before closing it.")


@transaction.atomic
def return_case_close(*, case_id: int, actor: AbstractBaseUser, note: str = "") -> ReturnCase:
    """Effects: closes an inspected case (`close_return`); refuses while any exception on it
    is open."""
    return _transition(
        case_id=case_id,
        name="close",
        actor=actor,
        why=note.strip() or "Closed",
        check=_no_open_exceptions,
    )


@transaction.atomic
def return_case_expire(*, case_id: int) -> ReturnCase:
    """Effects: the system expires an authorized case whose ship-by date has passed; its units
    can be claimed again; its unpaid refunds are withdrawn; queues the "expired" message."""
    case = _transition(
        case_id=case_id, name="expire", actor=None, why="Expired: not shipped in time"
    )
    _exchange_release(case, actor=None)
    case_refunds_withdraw(case_id=case.pk, reason=f"Return {case.rma_number} expired")
    _message(case, Template.EXPIRED)
    return case


def return_cases_expire_overdue(*, now: datetime | None = None) -> int:
    """Expire up to EXPIRY_BATCH overdue authorized cases, each in its own transaction.

    Effects: as `return_case_expire` per case; returns how many expired."""
    now = now or timezone.now()
    due = list(
        ReturnCase.objects.filter(state=ReturnCase.State.AUTHORIZED, ship_by__lt=now)
        .order_by("ship_by")
        .values_list("pk", flat=True)[:EXPIRY_BATCH]
    )
    expired = 0
    for pk in due:
        try:
            return_case_expire(case_id=pk)
            expired += 1
        except TransitionNotAllowed:
            continue  # shipped or cancelled since the query: nothing to expire
    return expired


# ---- Channel changes to a request -----------------------------------------------------------

# A case's lines may shrink only before the parcel is on its way and before money is promised.
LINES_EDITABLE_STATES = (
    ReturnCase.State.REQUESTED,
    ReturnCase.State.PENDING_REVIEW,
    ReturnCase.State.AUTHORIZED,
)


@transaction.atomic
def return_case_lines_reduce(
    *, case_id: int, reductions: dict[int, int], actor: AbstractBaseUser | None, why: str
) -> ReturnCase:
    """Take units off a case's lines, e.g. when the channel removed them from its return.

    `reductions` maps a ReturnLine id of the case to how many units to take off. Effects:
    locks the case; refuses (ValidationError saying why, nothing changed) a case past
    authorization, an exchange (its replacement is reserved), a case with a live refund, a
    line of another case or more units than the line has. Otherwise lowers each line's
    quantity with `why` in its history, deletes a line left with none, and cancels the case
    through `return_case_cancel` when no line is left.
    """
    from finance.models import Refund, RefundState

    case = ReturnCase.objects.select_for_update(of=("self",)).get(pk=case_id)
    if case.state not in LINES_EDITABLE_STATES:
        raise ValidationError(
            f"The case is {case.get_state_display().lower()}: its lines can no longer change."
        )
    if case.resolution == Resolution.EXCHANGE:
        raise ValidationError(
            "The case is an exchange with a reserved replacement: change it by hand."
        )
    live = Refund.objects.filter(case=case).exclude(
        state__in=[RefundState.REJECTED, RefundState.WITHDRAWN]
    )
    if live.exists():
        raise ValidationError("A refund is already under way for the case: change it by hand.")
    lines = {line.pk: line for line in ReturnLine.objects.select_for_update().filter(case=case)}
    for line_id, units in reductions.items():
        line = lines.get(line_id)
        if line is None:
            raise ValidationError(f"Line {line_id} is not a line of {case.rma_number}.")
        if units < 1 or units > line.quantity:
            raise ValidationError(
                f"Cannot take {units} unit(s) off a line of {line.quantity} on {case.rma_number}."
            )
    for line_id, units in reductions.items():
        line = lines[line_id]
        line.quantity -= units
        if line.quantity:
            save_with_history(line, actor=actor, why=why)
        else:
            line._history_user = actor
            line._change_reason = why[:100]
            line.delete()
            del lines[line_id]
    if not lines:
        return return_case_cancel(case_id=case.pk, actor=None, reason=why)
    return ReturnCase.objects.get(pk=case.pk)
