"""Releasing a unit from quarantine: maker-checker (never by the person who quarantined it),
with the permission, a reason, and only once what it was held for is settled."""

from dataclasses import replace

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from erp.models import ExceptionCase
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType

from ..models import Disposition, DispositionRule, Outcome, QuarantineRecord, UnitState
from ..rules import DESTINATIONS, disposition_suggest
from ._support import require_perm, required_text, save
from .disposition import (
    FRAUD_REVIEW_RESOLVED,
    SERIAL_VERIFIED,
    decision_apply,
    unit_facts,
    unit_locked,
)
from .receiving import EXCEPTION_KIND

RELEASE_PERMISSION = "warehouse.release_quarantine"


@transaction.atomic
def quarantine_release(
    *, unit_id: int, to_outcome: str, reason: str, client_token: str, actor: AbstractBaseUser
) -> Disposition:
    """Release a quarantined unit to another outcome.

    Effects: refuses without `warehouse.release_quarantine`; the same client token returns the
    decision it made; locks the unit; refuses a unit not held, the person who quarantined it
    (PermissionDenied, maker-checker), a missing reason, an outcome that is not a destination
    other than quarantine, a unit not inspected yet, a high-value unit whose serial is not
    verified or whose case has an open fraud review, and a mismatched unit whose case still
    has an open exception of its mismatch kinds. Otherwise closes the quarantine record with
    who, why and when, records a new decision (an override when the rules suggest otherwise),
    moves the stock out of quarantine (inventory checks `release_quarantine` again for
    available) and creates the put-away task.
    """
    require_perm(actor, RELEASE_PERMISSION, "release units from quarantine")
    replay = Disposition.objects.filter(client_token=client_token).first()
    if replay is not None:
        return replay
    unit = unit_locked(unit_id)
    record = (
        QuarantineRecord.objects.select_for_update()
        .filter(unit=unit, state=QuarantineRecord.State.HELD)
        .first()
    )
    if record is None:
        raise ValidationError("This unit is not in quarantine.")
    if record.quarantined_by_id == actor.pk:
        raise PermissionDenied(
            "You quarantined this unit: someone else must release it (maker-checker)."
        )
    reason = required_text(reason, field="reason", message="Say why it may leave quarantine.")
    if to_outcome not in DESTINATIONS or to_outcome == Outcome.QUARANTINE:
        raise ValidationError({"to_outcome": "Pick where the unit goes: restock, refurbish, …"})
    if unit.state == UnitState.RECEIVED:
        raise ValidationError("Inspect the unit before releasing it from quarantine.")
    _check_settled(unit, record)
    # What the rules would say of it as a plain unit: a different outcome is an override.
    facts = replace(unit_facts(unit, matched=True), is_high_value=False)
    suggestion = disposition_suggest(
        facts=facts, rules=DispositionRule.objects.filter(is_active=True)
    )
    why = f"Released from quarantine to {Outcome(to_outcome).label.lower()}: {reason}"
    decision = decision_apply(
        unit,
        suggestion=suggestion,
        outcome=to_outcome,
        override_reason=reason,
        client_token=client_token,
        actor=actor,
        why=why,
    )
    record.state = QuarantineRecord.State.RELEASED
    record.released_by = actor
    record.released_at = timezone.now()
    record.release_reason = reason
    record.released_to = to_outcome
    record.release_token = client_token
    save(record, actor=actor, why=why)
    return decision


def _open_kinds(case_id: int) -> set[str]:
    return set(
        ExceptionCase.objects.filter(
            subject_type=SubjectType.RETURN_CASE, subject_id=str(case_id), state__in=ACTIVE_STATES
        ).values_list("kind", flat=True)
    )


def _check_settled(unit, record: QuarantineRecord) -> None:
    open_kinds = _open_kinds(unit.case_id)
    needs = set(record.needs)
    facts = unit_facts(unit)
    if facts.is_high_value and facts.serial_tracked:
        # However it came to the cage (a mismatch at the dock, or its disposition).
        needs |= {SERIAL_VERIFIED, FRAUD_REVIEW_RESOLVED}
    if SERIAL_VERIFIED in needs and not unit.serial_verified:
        raise ValidationError(
            "The serial is not verified: the inspection must confirm the device's serial and "
            "it must be one shipped on the order."
        )
    if FRAUD_REVIEW_RESOLVED in needs and ExceptionKind.FRAUD_REVIEW in open_kinds:
        raise ValidationError("Resolve the case's fraud review before releasing this unit.")
    blocking = sorted(
        ExceptionKind(EXCEPTION_KIND[kind]).label.lower()
        for kind in unit.mismatch_kinds
        if EXCEPTION_KIND[kind] in open_kinds
    )
    if blocking:
        raise ValidationError(
            f"Resolve the case's open exceptions first: {', '.join(dict.fromkeys(blocking))}."
        )
