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
partial refund. Return shipping is charged once per case, on its first refund.
"""

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum

from erp.models import ReasonCode
from finance.amounts import LineInput, refund_amounts_calculate
from finance.models import Refund, RefundLine, RefundMethod, RefundState
from finance.services import refund_propose
from warehouse.models import InspectionPhoto
from warehouse.selectors import UnitOutcome, case_unit_outcomes

from .models import RefundTrigger, Resolution, ReturnCase, ShippingPaidBy

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
    """The payment the order was paid with, as the provider knows it. Orders do not record
    the payment intent yet, so it is derived from the channel and order number."""
    return f"pi_{case.channel.code}_{case.order.number}"


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
        .values_list("return_line_id")
        .annotate(units=Sum("quantity"))
    )
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
                )
            )
    if not lines:
        # Everything that qualifies is refunded already: the same call again gets that refund.
        return Refund.objects.filter(case=case, stage=stage).order_by("pk").last()
    earlier = Refund.objects.filter(case=case).exclude(state=RefundState.REJECTED).exists()
    amounts = refund_amounts_calculate(
        lines=lines,
        restocking_fee_percent=case.restocking_fee_percent,
        customer_pays_return_shipping=(
            case.return_shipping_paid_by == ShippingPaidBy.CUSTOMER and not earlier
        ),
        exchange=case.resolution == Resolution.EXCHANGE,
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
