"""A unit a 3PL inspected and decided, as its returns report says: the inspection and the
disposition recorded in our books, with the stock moved to the outcome's state.

The 3PL has already put the goods where it decided, so its disposition is not a suggestion
we accept or override: it is recorded as reported (named in the history and the decision's
reason), except where our own rules force quarantine (a mismatch, a high-value serial
item), which the 3PL's word does not lift.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Disposition, Grade, Inspection, Outcome, ReturnUnit, UnitState
from ._support import require_perm, save
from .disposition import (
    DISPOSITION_PERMISSION,
    _quarantine_hold,
    decision_apply,
    unit_locked,
    unit_suggestion,
)
from .inspection import INSPECT_PERMISSION, checklist_for

# Canonical condition (disposition_canonical_map.tsv) → our outcome. PENDING_INSPECTION and
# MISSING decide nothing: the unit waits, or never came (the receipt closes the case short).
OUTCOME_BY_CONDITION = {
    "SELLABLE": Outcome.RESTOCK,
    "UNSELLABLE": Outcome.DISPOSE,
    "UNSELLABLE_CUSTOMER_DAMAGED": Outcome.DISPOSE,
    "UNSELLABLE_EXPIRED": Outcome.DISPOSE,
    "DAMAGED_CARRIER": Outcome.DISPOSE,
    "DAMAGED_MARKETPLACE_LIABLE": Outcome.DISPOSE,
    "UNSELLABLE_DEFECTIVE": Outcome.VENDOR_RETURN,
}


def threepl_outcome(canonical: str) -> str | None:
    """Our outcome for a 3PL's canonical disposition; None when it decides nothing."""
    return OUTCOME_BY_CONDITION.get(canonical)


@transaction.atomic(savepoint=False)
def threepl_unit_decide(
    *,
    unit_id: int,
    outcome: str,
    grade: str,
    reported: str,
    client_token: str,
    actor: AbstractBaseUser,
) -> Disposition:
    """Record a 3PL's inspection and disposition of a received unit. `reported` names the
    3PL and what it wrote ("ShipHero: NOT_RESTOCKED"); `actor` is the 3PL's service user.

    Effects: refuses without `warehouse.inspect_unit` and `warehouse.disposition_unit`; the
    same client token returns the decision it made; locks the unit; refuses (ValidationError,
    nothing written) a grade outside A to F, an unknown outcome, a unit already decided, one in
    quarantine (`code="quarantined"`: a manager releases it) or not on the books. Otherwise
    records the inspection (grade, the 3PL named in its notes) when the unit was not inspected
    yet, then the decision through `decision_apply` (stock to the outcome's location and
    state, put-away task, history naming the 3PL), with quarantine instead when our rules
    force it (and its quarantine record and fraud review).
    """
    require_perm(actor, INSPECT_PERMISSION, "inspect returned units")
    require_perm(actor, DISPOSITION_PERMISSION, "disposition returned units")
    replay = Disposition.objects.filter(client_token=client_token).first()
    if replay is not None:
        return replay
    if grade not in Grade.values:
        raise ValidationError({"grade": f"{grade!r} is not a grade from A to F."})
    if outcome not in Outcome.values or outcome == Outcome.HOLD:
        raise ValidationError({"outcome": f"{outcome!r} is not an outcome a 3PL reports."})
    unit = unit_locked(unit_id)
    if unit.is_quarantined:
        raise ValidationError(
            "This unit is in quarantine: an operations manager releases it.", code="quarantined"
        )
    if unit.state == UnitState.DISPOSITIONED:
        raise ValidationError("This unit was already dispositioned.", code="decided")
    if unit.product_id is None or not unit.stock_state:
        raise ValidationError("This item is not on the books: work its exception.")
    if unit.state == UnitState.RECEIVED:
        _inspection(unit, grade=grade, reported=reported, client_token=client_token, actor=actor)
    suggestion = unit_suggestion(unit)
    chosen = Outcome.QUARANTINE if suggestion.forced else outcome
    why = f"Dispositioned by the 3PL: {Outcome(chosen).label} ({reported})"
    if chosen != outcome:
        why = f"Quarantined: {suggestion.explanation} The 3PL reported {reported}."
    decision = decision_apply(
        unit,
        suggestion=suggestion,
        outcome=chosen,
        override_reason=f"Reported by the 3PL: {reported}"[:300],
        client_token=client_token,
        actor=actor,
        why=why[:300],
    )
    if chosen == Outcome.QUARANTINE:
        _quarantine_hold(unit, suggestion=suggestion, actor=actor)
    return decision


def _inspection(
    unit: ReturnUnit, *, grade: str, reported: str, client_token: str, actor: AbstractBaseUser
) -> Inspection:
    # The 3PL answered no checklist of ours: the inspection keeps the version in force and
    # says whose grade it is.
    inspection = Inspection(
        unit=unit,
        template=checklist_for(unit),
        answers={},
        grade=grade,
        notes=f"Graded by the 3PL in its returns report ({reported}).",
        inspector=actor,
        inspected_at=timezone.now(),
        client_token=f"{client_token[:60]}:ins",
    )
    save(inspection, actor=actor, why=f"Graded {grade} by the 3PL")
    unit.inspect()
    save(unit, actor=actor, why=f"Inspected by the 3PL: grade {grade}")
    unit.inspection = inspection
    return inspection
