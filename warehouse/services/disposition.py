"""Deciding what happens to an inspected unit: the rules suggest, a person accepts, holds or
(with the permission and a reason) overrides; the unit's stock moves to the outcome's location
and state, and a put-away task tells the bench where to carry it."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from erp.models import Product
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open
from inventory import services as inventory
from inventory.models import CauseType

from ..models import (
    Disposition,
    DispositionRule,
    DispositionRuleEdit,
    Outcome,
    PutawayTask,
    QuarantineRecord,
    ReturnUnit,
)
from ..rules import (
    DESTINATIONS,
    DispositionFacts,
    Suggestion,
    disposition_suggest,
    recovery_estimate,
)
from ..selectors import unit_current_disposition
from ._support import location_of_kind, require_perm, save

DISPOSITION_PERMISSION = "warehouse.disposition_unit"
OVERRIDE_PERMISSION = "warehouse.override_disposition"
# What a high-value unit needs before it may leave quarantine.
SERIAL_VERIFIED = "serial_verified"
FRAUD_REVIEW_RESOLVED = "fraud_review_resolved"
EXCEPTIONS_RESOLVED = "exceptions_resolved"


def unit_locked(unit_id: int) -> ReturnUnit:
    """The unit, locked, with what deciding on it reads."""
    return (
        ReturnUnit.objects.select_for_update(of=("self",))
        .select_related(
            "product__category",
            "receipt",
            "inspection",
            "return_line__reason",
            "case__channel",
            "location",
        )
        .get(pk=unit_id)
    )


def unit_facts(unit: ReturnUnit, *, matched: bool | None = None) -> DispositionFacts:
    product = unit.product
    reason = unit.return_line.reason if unit.return_line_id else None
    inspection = getattr(unit, "inspection", None)
    return DispositionFacts(
        grade=inspection.grade if inspection else "",
        department=product.category.department,
        category_id=product.category_id,
        reason_group=reason.group if reason else "",
        reason_code_id=reason.pk if reason else None,
        channel_kind=unit.case.channel.kind,
        is_high_value=product.is_high_value,
        serial_tracked=product.tracking == Product.Tracking.SERIAL,
        matched=unit.is_matched if matched is None else matched,
    )


def unit_suggestion(unit: ReturnUnit) -> Suggestion:
    """What the rules suggest for the unit now (for the bench screen and for deciding)."""
    if unit.product_id is None:
        return Suggestion(
            Outcome.QUARANTINE, None, "Unknown item: not on the books until identified.", True
        )
    return disposition_suggest(
        facts=unit_facts(unit), rules=DispositionRule.objects.filter(is_active=True)
    )


def decision_apply(
    unit: ReturnUnit,
    *,
    suggestion: Suggestion,
    outcome: str,
    override_reason: str,
    client_token: str,
    actor: AbstractBaseUser,
    why: str,
) -> Disposition:
    """Write the decision, move the stock to the outcome's destination, leave the put-away
    task and record the unit's transition. The caller has locked the unit and checked."""
    now = timezone.now()
    recovery, basis = recovery_estimate(outcome=outcome, product=unit.product)
    destination, to_state = None, None
    if outcome in DESTINATIONS:
        kind, to_state = DESTINATIONS[outcome]
        destination = location_of_kind(warehouse_id=unit.receipt.warehouse_id, kind=kind)
    overridden = outcome not in (suggestion.outcome, Outcome.HOLD)
    decision = Disposition(
        unit=unit,
        suggested_outcome=suggestion.outcome,
        outcome=outcome,
        rule=suggestion.rule,
        explanation=suggestion.explanation[:300],
        overridden=overridden,
        override_reason=override_reason if overridden else "",
        expected_recovery=recovery,
        recovery_basis=basis,
        currency=unit.case.channel.currency,
        to_location=destination,
        decided_by=actor,
        decided_at=now,
        client_token=client_token,
    )
    save(decision, actor=actor, why=why)
    if destination is not None:
        serial_tracked = unit.product.tracking == Product.Tracking.SERIAL
        inventory.stock_move(
            product_id=unit.product_id,
            qty=1,
            from_location_id=unit.location_id,
            from_state=unit.stock_state,
            to_location_id=destination.pk,
            to_state=to_state,
            lot=unit.lot if unit.product.tracking == Product.Tracking.LOT else "",
            serials=[unit.serial] if serial_tracked else [],
            idempotency_key=f"warehouse:disposition:{decision.pk}",
            actor=actor,
            cause_type=CauseType.DISPOSITION,
            cause_id=str(decision.pk),
            reason=why,
        )
        unit.location, unit.stock_state = destination, to_state
        task = PutawayTask(disposition=decision, unit=unit, to_location=destination, created_at=now)
        save(task, actor=actor, why=f"Take it to {destination}")
    unit.disposition(at=now)
    save(unit, actor=actor, why=why)
    return decision


@transaction.atomic
def disposition_record(
    *,
    unit_id: int,
    outcome: str | None,
    client_token: str,
    actor: AbstractBaseUser,
    override_reason: str = "",
) -> Disposition:
    """Decide an inspected unit (or one on hold). `outcome` None accepts the suggestion;
    "hold" decides later.

    Effects: refuses without `warehouse.disposition_unit`; the same client token returns the
    decision it made; locks the unit; refuses a unit not inspected, already decided (other
    than on hold), in quarantine (only a release moves it on) or not on the books; refuses
    leaving a forced quarantine (mismatch, high-value serial item); refuses another outcome
    than the suggestion without `warehouse.override_disposition` (PermissionDenied) or without
    a reason. Otherwise records the decision with its expected recovery, moves the unit's
    stock to the outcome's location and state (inventory), creates the put-away task, and
    for quarantine a quarantine record naming the actor — plus, for a high-value serial item,
    a fraud_review exception on the case unless one is open. History rows say who and why.
    """
    require_perm(actor, DISPOSITION_PERMISSION, "disposition returned units")
    replay = Disposition.objects.filter(client_token=client_token).first()
    if replay is not None:
        return replay
    unit = unit_locked(unit_id)
    _check_decidable(unit)
    suggestion = unit_suggestion(unit)
    chosen = outcome or suggestion.outcome
    if chosen not in Outcome.values:
        raise ValidationError({"outcome": f"Unknown outcome {chosen!r}."})
    if chosen != suggestion.outcome:
        if suggestion.forced:
            raise ValidationError(
                {"outcome": f"This unit goes to quarantine. {suggestion.explanation}"}
            )
        if chosen != Outcome.HOLD:
            if not actor.has_perm(OVERRIDE_PERMISSION):
                raise PermissionDenied("You may not override the suggested disposition.")
            if not override_reason.strip():
                raise ValidationError(
                    {"override_reason": "Say why you override the suggested disposition."}
                )
    label = Outcome(chosen).label
    why = f"Dispositioned: {label}"
    if chosen != suggestion.outcome and chosen != Outcome.HOLD:
        why += (
            f" (suggested {Outcome(suggestion.outcome).label}; override: {override_reason.strip()})"
        )
    decision = decision_apply(
        unit,
        suggestion=suggestion,
        outcome=chosen,
        override_reason=override_reason.strip(),
        client_token=client_token,
        actor=actor,
        why=why,
    )
    if chosen == Outcome.QUARANTINE:
        _quarantine_hold(unit, suggestion=suggestion, actor=actor)
    return decision


def _check_decidable(unit: ReturnUnit) -> None:
    if not can_proceed(unit.disposition):
        raise ValidationError("Inspect the unit before deciding what happens to it.")
    current = unit_current_disposition(unit)
    if current is not None and current.outcome != Outcome.HOLD:
        raise ValidationError(
            f"This unit was already dispositioned: {current.get_outcome_display().lower()}."
        )
    if unit.product_id is None or not unit.stock_state:
        raise ValidationError(
            "This item is not on the books (unknown item or serial): work its exception."
        )
    if unit.is_quarantined:
        raise ValidationError(
            "This unit is in quarantine: an operations manager releases it, with a reason."
        )


def _quarantine_hold(unit: ReturnUnit, *, suggestion: Suggestion, actor: AbstractBaseUser) -> None:
    facts = unit_facts(unit)
    needs = [EXCEPTIONS_RESOLVED]
    if facts.is_high_value and facts.serial_tracked:
        needs = [SERIAL_VERIFIED, FRAUD_REVIEW_RESOLVED]
        exception_open(
            kind=ExceptionKind.FRAUD_REVIEW,
            subject_type=SubjectType.RETURN_CASE,
            subject_id=unit.case_id,
            subject_label=unit.case.rma_number,
            summary=f"High-value return quarantined: {unit.product.sku} {unit.serial}",
            details="Verify the serial against the order and review the return before release.",
            evidence={
                "unit_id": unit.pk,
                "sku": unit.product.sku,
                "serial": unit.serial,
                "serial_verified": unit.serial_verified,
            },
            product=unit.product,
            sales_order=unit.case.order,
            actor=actor,
        )
    record = QuarantineRecord(
        unit=unit,
        reason=suggestion.explanation[:300],
        needs=needs,
        quarantined_by=actor,
        quarantined_at=timezone.now(),
    )
    save(record, actor=actor, why=suggestion.explanation)


# ---- Disposition rules, as operations managers edit them ---------------------------------

RULES_PERMISSION = "warehouse.change_disposition_rules"
RULE_FIELDS = (
    "name",
    "priority",
    "grade",
    "department",
    "category",
    "reason_group",
    "reason_code",
    "channel_kind",
    "outcome",
    "is_active",
)


@transaction.atomic
def disposition_rule_save(
    *,
    rule_id: int | None,
    values: dict,
    note: str,
    actor: AbstractBaseUser,
    client_token: str = "",
) -> DispositionRule:
    """Create a disposition rule (`rule_id` None) or change one.

    Effects: refuses without `warehouse.change_disposition_rules`, without a note saying
    why, with "hold" as the outcome (holding is a person's call), with a category outside
    the rule's department or a reason code outside its reason group, or with values the
    model refuses — writing nothing. Otherwise saves the rule (locked when it exists) with a
    history row naming the manager and the note, and with `client_token` (the form's) an
    edit row (`DispositionRuleEdit`): the same token again returns the rule it saved, with
    `rule.replayed` True, and writes nothing — a double submit, even two at once, saves once
    and creates a new rule once. Units decided before keep their decision.
    """
    require_perm(actor, RULES_PERMISSION, "change disposition rules")
    replay = _rule_saved_with(client_token)
    if replay is not None:
        return replay
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what changed and why."})
    if rule_id is None:
        rule = DispositionRule()
    else:
        rule = DispositionRule.objects.select_for_update().get(pk=rule_id)
    for name in RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    errors = {}
    if rule.outcome == Outcome.HOLD:
        errors["outcome"] = "A rule suggests an outcome; holding is a person's call."
    if rule.category_id and rule.department and rule.category.department != rule.department:
        errors["category"] = (
            f"{rule.category.name} is in {rule.category.get_department_display()}, "
            "not the rule's department."
        )
    if rule.reason_code_id and rule.reason_group and rule.reason_code.group != rule.reason_group:
        errors["reason_code"] = "That reason code is not in the rule's reason group."
    if errors:
        raise ValidationError(errors)
    rule.full_clean()
    if not client_token:
        save(rule, actor=actor, why=note)
        rule.replayed = False
        return rule
    try:
        # A savepoint: a twin submit racing this one waits on the token's unique index, then
        # fails here and returns what the first one saved.
        with transaction.atomic():
            save(rule, actor=actor, why=note)
            DispositionRuleEdit.objects.create(
                rule=rule, client_token=client_token, note=note[:200], edited_by=actor
            )
    except IntegrityError:
        replay = _rule_saved_with(client_token)
        if replay is None:
            raise
        return replay
    rule.replayed = False
    return rule


def _rule_saved_with(client_token: str) -> DispositionRule | None:
    if not client_token:
        return None
    edit = (
        DispositionRuleEdit.objects.filter(client_token=client_token).select_related("rule").first()
    )
    if edit is None:
        return None
    edit.rule.replayed = True
    return edit.rule


def disposition_rule_preview(
    *, facts: DispositionFacts, rules: list[DispositionRule]
) -> Suggestion:
    """Which rule would decide a unit with these facts — the engine's own answer
    (`warehouse.rules.disposition_suggest`), nothing written. `rules` may hold an edited,
    unsaved rule in place of its saved version, so a manager sees the effect before saving."""
    return disposition_suggest(facts=facts, rules=rules)
