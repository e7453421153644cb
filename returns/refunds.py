"""Where the returns workflow meets finance: at the stage the policy named (authorization,
receipt or inspection) a case's refund is worked out and proposed through finance services.

`case_refund_evaluate` is called by `returns.services` when a case is authorized
(on_authorization) and by `returns.workflow` after a receipt (on_receipt) and once every unit
is dispositioned (on_inspection). At any other stage than the case's trigger it does nothing.

What is refunded per returned line (amounts in `finance.amounts`):
- on_authorization: every unit claimed, ungraded (the policy trusts a low-value case);
- on_receipt: the units received and matched against the line, ungraded;
- on_inspection: the matched units, each with its inspection grade.
A mismatched unit, or one received against no line, is never refunded. Units already covered
by an earlier refund of the case are not refunded again, so a second parcel gets a second,
partial refund. Return shipping (the channel's rate) is charged once per case, on its first
refund. What a manual partial refund of a line paid back (`case_refund_propose_manual`) comes
off the next refund of that line.

When a case is cancelled or expires, `case_refunds_withdraw` withdraws its unpaid refunds.
"""

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum

from erp.models import ReasonCode
from finance.amounts import LineInput, manual_refund_amounts, refund_amounts_calculate
from finance.models import Refund, RefundLine, RefundMethod, RefundStage, RefundState
from finance.models.refunds import PROPOSE_PERMISSION
from finance.refund_selectors import return_shipping_fee
from finance.services import refund_propose, refunds_withdraw_for_case
from warehouse.models import InspectionPhoto
from warehouse.selectors import UnitOutcome, case_unit_outcomes

from .models import RefundTrigger, Resolution, ReturnCase, ReturnLine, ShippingPaidBy

METHOD = {
    Resolution.REFUND: RefundMethod.ORIGINAL_PAYMENT,
    Resolution.STORE_CREDIT: RefundMethod.STORE_CREDIT,
    Resolution.EXCHANGE: RefundMethod.EXCHANGE,
}
# Returns the customer did not cause: their units are never charged for their condition.
NOT_CUSTOMER_FAULT = {
    ReasonCode.Group.DEFECT,
    ReasonCode.Group.NOT_AS_DESCRIBED,
    ReasonCode.Group.FULFILMENT_ERROR,
    ReasonCode.Group.LOGISTICS,
}


def payment_reference(case: ReturnCase) -> str:
    """The payment the order was paid with, as the provider knows it: the order's recorded
    payment reference (the channel's import stores it). Fallback for orders imported before
    it was recorded, or from a channel that does not report it: `pi_<channel>_<order>`, the
    convention the storefront's payment intents follow; the provider refuses a reference it
    does not know, which fails the refund with a refund_failure exception for finance."""
    return case.order.payment_reference or f"pi_{case.channel.code}_{case.order.number}"


def _units_by_line(stage: str, case: ReturnCase, outcomes: list[UnitOutcome]):
    """Per returned line, the grade of each unit that qualifies at `stage`."""
    grades: dict[int, list[str]] = defaultdict(list)
    if stage == RefundTrigger.ON_AUTHORIZATION:
        for line in case.lines.all():
            grades[line.pk] = [""] * line.quantity
        return grades
    for unit in outcomes:
        if not unit.matched or unit.return_line_id is None:
            continue
        grades[unit.return_line_id].append(
            unit.grade if stage == RefundTrigger.ON_INSPECTION else ""
        )
    return grades


def _evidence(case: ReturnCase, stage: str, outcomes: list[UnitOutcome]) -> dict:
    return {
        "stage": stage,
        "resolution": case.resolution,
        "rule": case.deciding_rule.name,
        "decision": case.decision.get("summary", ""),
        "restocking_fee_percent": str(case.restocking_fee_percent),
        "return_shipping_paid_by": case.return_shipping_paid_by,
        "risk_score": case.risk_score,
        "risk_level": case.risk_level,
        "risk_signals": case.risk_signals,
        "inspection_photos": InspectionPhoto.objects.filter(inspection__unit__case=case).count()
        if outcomes
        else 0,
        "units": [
            {
                "return_line_id": unit.return_line_id,
                "serial": unit.serial,
                "lot": unit.lot,
                "matched": unit.matched,
                "grade": unit.grade,
                "disposition": unit.disposition,
                "disposition_label": unit.disposition.replace("_", " "),
            }
            for unit in outcomes
        ],
    }


@transaction.atomic
def case_refund_evaluate(
    *, case_id: int, stage: str, actor: AbstractBaseUser | None
) -> Refund | None:
    """Propose the case's refund when `stage` is the case's refund trigger.

    Effects: nothing at another stage or before every matched unit is graded (on_inspection)
    — returns None; nothing when every qualifying unit is refunded already — returns the
    latest refund of this stage (None if no unit qualifies). Otherwise works out the amounts
    (price x units, condition deductions, restocking fee, return shipping; an exchange pays
    nothing) and proposes the refund through
    `finance.services.refund_propose` with the evidence it rests on (policy rule, risk, the
    units' grades and dispositions) and who received and inspected the units (none of whom
    may approve it). Idempotent: the same call again returns the same refund.
    """
    case = (
        ReturnCase.objects.select_related("channel", "order", "deciding_rule")
        .select_for_update(of=("self",))
        .get(pk=case_id)
    )
    if case.refund_trigger != stage:
        return None
    outcomes = (
        [] if stage == RefundTrigger.ON_AUTHORIZATION else case_unit_outcomes(case_id=case.pk)
    )
    if stage == RefundTrigger.ON_INSPECTION and any(
        unit.matched and not unit.grade for unit in outcomes
    ):
        return None
    grades = _units_by_line(stage, case, outcomes)
    refunded = dict(
        RefundLine.objects.filter(refund__case=case, released=False)
        .exclude(refund__stage=RefundStage.MANUAL)
        .values_list("return_line_id")
        .annotate(units=Sum("quantity"))
    )
    manual = _manual_not_yet_deducted(case.pk)
    lines = []
    for line in case.lines.select_related("reason").order_by("pk"):
        todo = grades.get(line.pk, [])[refunded.get(line.pk, 0) :][: line.quantity]
        if todo:
            lines.append(
                LineInput(
                    return_line_id=line.pk,
                    unit_price=line.unit_price,
                    grades=tuple(todo),
                    customer_at_fault=line.reason.group not in NOT_CUSTOMER_FAULT,
                    already_refunded=manual.get(line.pk, Decimal("0")),
                )
            )
    if not lines:
        # Everything that qualifies is refunded already: the same call again gets that refund.
        return Refund.objects.filter(case=case, stage=stage).order_by("pk").last()
    earlier = (
        Refund.objects.filter(case=case)
        .exclude(state__in=[RefundState.REJECTED, RefundState.WITHDRAWN])
        .exclude(stage=RefundStage.MANUAL)
        .exists()
    )
    amounts = refund_amounts_calculate(
        lines=lines,
        restocking_fee_percent=case.restocking_fee_percent,
        customer_pays_return_shipping=(
            case.return_shipping_paid_by == ShippingPaidBy.CUSTOMER and not earlier
        ),
        exchange=case.resolution == Resolution.EXCHANGE,
        shipping_fee=return_shipping_fee(channel_id=case.channel_id),
    )
    units = sum(len(line.grades) for line in lines) + sum(refunded.values())
    inspectors = {unit.inspected_by_id for unit in outcomes} | {
        unit.received_by_id for unit in outcomes
    }
    return refund_propose(
        case_id=case.pk,
        channel_id=case.channel_id,
        customer_id=case.customer_id,
        stage=stage,
        method=METHOD[case.resolution],
        currency=case.order.currency,
        amounts=amounts,
        dedupe_key=f"return_case:{case.pk}:{stage}:{units}",
        payment_reference=payment_reference(case),
        risk_level=case.risk_level,
        evidence=_evidence(case, stage, outcomes),
        inspector_ids=sorted(pk for pk in inspectors if pk is not None),
        requested_by=actor,
    )


def _manual_not_yet_deducted(case_id: int) -> dict[int, Decimal]:
    """Per returned line, what its manual partial refunds paid back and no later refund of
    the line has deducted yet."""
    rows = (
        RefundLine.objects.filter(refund__case_id=case_id, released=False)
        .values("return_line_id")
        .annotate(
            manual=Sum("amount", filter=Q(refund__stage=RefundStage.MANUAL)),
            deducted=Sum("earlier_refunds"),
        )
    )
    left = {}
    for row in rows:
        amount = (row["manual"] or 0) - (row["deducted"] or 0)
        if amount > 0:
            left[row["return_line_id"]] = amount
    return left


@dataclass(frozen=True)
class RefundableLine:
    """A returned line on the manual refund screen: what was paid and what is left to refund."""

    return_line_id: int
    label: str
    quantity: int
    paid: Decimal
    committed: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.paid - self.committed


def case_refundable_lines(*, case_id: int) -> list[RefundableLine]:
    """The case's returned lines with what was paid for them and what refunds not rejected or
    withdrawn already take (the refund cap the database enforces)."""
    lines = (
        ReturnLine.objects.filter(case_id=case_id)
        .select_related("order_line__product")
        .annotate(committed=Sum("refund_lines__amount", filter=Q(refund_lines__released=False)))
        .order_by("order_line__line_number", "pk")
    )
    return [
        RefundableLine(
            return_line_id=line.pk,
            label=f"{line.order_line.product.sku} · {line.order_line.product.name}",
            quantity=line.quantity,
            paid=line.unit_price * line.quantity,
            committed=line.committed or Decimal("0.00"),
        )
        for line in lines
    ]


@transaction.atomic
def case_refund_propose_manual(
    *,
    case_id: int,
    amounts: Mapping[int, Decimal],
    reason: str,
    actor: AbstractBaseUser,
    client_token: str = "",
) -> Refund:
    """Finance proposes a partial refund of some of a case's lines by hand (goodwill, a
    price adjustment, a partial return).

    Effects: refuses without `finance.propose_refund` (PermissionDenied); with a
    ValidationError naming the field, refuses a missing reason, no positive amount, a line
    not of the case, or an amount over what is left refundable on a line (what was paid less
    what refunds not rejected or withdrawn take; the database enforces it too). Otherwise
    proposes it through `finance.services.refund_propose` at stage `manual` to the case's
    resolution method, with the actor as requester (who may not approve it, and it is never
    approved automatically): it waits in the approval queue, or on hold while an exception
    is open on the case. Its amount comes off the line's next policy refund. The same
    `client_token` again returns the same refund.
    """
    if not actor.has_perm(PROPOSE_PERMISSION):
        raise PermissionDenied("You may not propose refunds.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why this refund is made."})
    case = (
        ReturnCase.objects.select_related("channel", "order", "deciding_rule")
        .select_for_update(of=("self",))
        .get(pk=case_id)
    )
    if case.resolution == Resolution.EXCHANGE:
        raise ValidationError("An exchange refunds no money; a partial refund does not apply.")
    refundable = {line.return_line_id: line for line in case_refundable_lines(case_id=case.pk)}
    wanted = [(line_id, Decimal(amount)) for line_id, amount in amounts.items() if amount]
    for line_id, amount in wanted:
        line = refundable.get(line_id)
        if line is None:
            raise ValidationError({"lines": "A line is not part of this return."})
        if amount < 0 or amount != amount.quantize(Decimal("0.01")):
            raise ValidationError({"lines": f"{line.label}: enter an amount in cents, ≥ 0."})
        if amount > line.remaining:
            raise ValidationError(
                {"lines": f"{line.label}: at most {line.remaining} is left to refund."}
            )
    if not any(amount > 0 for _, amount in wanted):
        raise ValidationError({"lines": "Enter an amount to refund for at least one line."})
    return refund_propose(
        case_id=case.pk,
        channel_id=case.channel_id,
        customer_id=case.customer_id,
        stage=RefundStage.MANUAL,
        method=METHOD[case.resolution],
        currency=case.order.currency,
        amounts=manual_refund_amounts(lines=wanted),
        dedupe_key=f"return_case:{case.pk}:manual:{client_token or uuid.uuid4().hex}",
        payment_reference=payment_reference(case),
        risk_level=case.risk_level,
        evidence={
            "stage": RefundStage.MANUAL.value,
            "reason": reason,
            "resolution": case.resolution,
            "rule": case.deciding_rule.name,
            "risk_score": case.risk_score,
            "risk_level": case.risk_level,
            "risk_signals": case.risk_signals,
            "units": [],
        },
        requested_by=actor,
    )


def case_refunds_withdraw(*, case_id: int, reason: str) -> list[Refund]:
    """The case was cancelled or expired: withdraw its unpaid refunds (an issued one opens a
    refund_failure exception for finance to recover). Effects: as
    `finance.services.refunds_withdraw_for_case`."""
    return refunds_withdraw_for_case(case_id=case_id, reason=reason)
