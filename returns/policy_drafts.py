"""Editing a draft return policy: add, change, delete and reorder its rules.

Only a draft changes; a published or retired rule set is immutable (cases point at its rules).
Every edit is logged with who and why (`PolicyEdit`) and saved with a history reason, and
carries the form's client token, so a form submitted twice applies once.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from erp.history import save_with_history

from .models import PolicyEdit, PolicyRule, PolicyRuleSet
from .policy import precedence_key

# Every criterion and outcome a rule has: what the rule form edits.
RULE_FIELDS = (
    "name",
    "priority",
    "channel",
    "region",
    "department",
    "category",
    "customer_segment",
    "warranty_status",
    "min_order_age_days",
    "max_order_age_days",
    "min_item_value",
    "max_item_value",
    "reason_code",
    "ineligible_reason",
    "return_window_days",
    "decision",
    "refund_trigger",
    "offers_refund",
    "offers_store_credit",
    "offers_exchange",
    "restocking_fee_percent",
    "return_shipping_paid_by",
)
PERMISSIONS = {
    PolicyEdit.Action.ADD: "returns.add_policyrule",
    PolicyEdit.Action.CHANGE: "returns.change_policyrule",
    PolicyEdit.Action.DELETE: "returns.delete_policyrule",
    PolicyEdit.Action.MOVE: "returns.change_policyrule",
}
# Reordering renumbers the priorities in steps, so a rule can later go between two others.
PRIORITY_STEP = 10
TOKEN_LENGTH = 64


def _begin(
    *,
    rule_set_id: int,
    action: str,
    actor: AbstractBaseUser,
    note: str,
    client_token: str,
) -> tuple[PolicyRuleSet | None, PolicyEdit | None, str]:
    """Check the actor, the note and the token, lock the draft. Returns (draft, None, note),
    or (None, the earlier edit, note) when this token was applied already."""
    if not actor.has_perm(PERMISSIONS[action]):
        raise PermissionDenied("You may not edit return policies.")
    if not client_token or len(client_token) > TOKEN_LENGTH:
        raise ValidationError("The form has no valid client token; reload the page.")
    replay = PolicyEdit.objects.filter(client_token=client_token).first()
    if replay is not None:
        return None, replay, note
    note = note.strip()
    if not note:
        raise ValidationError({"note": "Say why, so the next person understands the change."})
    rule_set = PolicyRuleSet.objects.select_for_update().get(pk=rule_set_id)
    if rule_set.state != PolicyRuleSet.State.DRAFT:
        raise ValidationError(
            f"Version {rule_set.version} is {rule_set.get_state_display().lower()}: it never "
            "changes. Copy it to a new draft to change it."
        )
    return rule_set, None, note


def _log(
    rule_set: PolicyRuleSet,
    rule: PolicyRule,
    *,
    action: str,
    actor: AbstractBaseUser,
    note: str,
    client_token: str,
    rule_id: int | None = None,
) -> PolicyEdit:
    return PolicyEdit.objects.create(
        rule_set=rule_set,
        rule_id=rule_id if rule_id is not None else rule.pk,
        rule_name=rule.name,
        action=action,
        note=note[:500],
        client_token=client_token,
        actor=actor,
    )


def _rule_of(rule_set: PolicyRuleSet, rule_id: int) -> PolicyRule:
    rule = PolicyRule.objects.select_for_update().filter(pk=rule_id, rule_set=rule_set).first()
    if rule is None:
        raise PolicyRule.DoesNotExist(f"Rule {rule_id} is not in version {rule_set.version}.")
    return rule


def _assign(rule: PolicyRule, fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(f"Not a field of a rule: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(rule, name, value)
    # Model validation: field bounds, choices and the table's check constraints, with the
    # messages a person can act on; nothing is saved when it fails.
    rule.full_clean(exclude=["rule_set"])
    problems = {}
    for low, high, what in (
        ("min_order_age_days", "max_order_age_days", "order age"),
        ("min_item_value", "max_item_value", "item value"),
    ):
        lower, upper = getattr(rule, low), getattr(rule, high)
        if lower is not None and upper is not None and lower > upper:
            problems[high] = f"The {what} “up to” is below its “from”."
    if rule.eligible and not (
        rule.offers_refund or rule.offers_store_credit or rule.offers_exchange
    ):
        problems["offers_refund"] = (
            "A rule that lets a return through offers at least one resolution."
        )
    if not rule.return_window_days:
        problems["return_window_days"] = "A return window is at least one day."
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def policy_rule_add(
    *,
    rule_set_id: int,
    fields: Mapping[str, Any],
    actor: AbstractBaseUser,
    note: str,
    client_token: str,
) -> PolicyEdit:
    """Add a rule to a draft.

    Effects: refuses without `add_policyrule` (PermissionDenied); a missing note or client
    token, a rule set that is not a draft, or a rule that does not validate (ValidationError
    naming the field) — writing nothing. Otherwise creates the rule with a history row by
    `actor` and the note, and logs the edit. The same client token again returns the first
    edit and writes nothing.
    """
    rule_set, replay, note = _begin(
        rule_set_id=rule_set_id,
        action=PolicyEdit.Action.ADD,
        actor=actor,
        note=note,
        client_token=client_token,
    )
    if replay is not None:
        return replay
    rule = PolicyRule(rule_set=rule_set)
    _assign(rule, fields)
    save_with_history(rule, actor=actor, why=f"Added: {note}")
    return _log(
        rule_set,
        rule,
        action=PolicyEdit.Action.ADD,
        actor=actor,
        note=note,
        client_token=client_token,
    )


@transaction.atomic
def policy_rule_change(
    *,
    rule_set_id: int,
    rule_id: int,
    fields: Mapping[str, Any],
    actor: AbstractBaseUser,
    note: str,
    client_token: str,
) -> PolicyEdit:
    """Change a draft's rule. Effects: as `policy_rule_add`, with `change_policyrule`; a rule
    of another rule set is PolicyRule.DoesNotExist."""
    rule_set, replay, note = _begin(
        rule_set_id=rule_set_id,
        action=PolicyEdit.Action.CHANGE,
        actor=actor,
        note=note,
        client_token=client_token,
    )
    if replay is not None:
        return replay
    rule = _rule_of(rule_set, rule_id)
    _assign(rule, fields)
    save_with_history(rule, actor=actor, why=f"Changed: {note}")
    return _log(
        rule_set,
        rule,
        action=PolicyEdit.Action.CHANGE,
        actor=actor,
        note=note,
        client_token=client_token,
    )


@transaction.atomic
def policy_rule_delete(
    *, rule_set_id: int, rule_id: int, actor: AbstractBaseUser, note: str, client_token: str
) -> PolicyEdit:
    """Delete a draft's rule. Effects: as `policy_rule_change`, with `delete_policyrule`; the
    deletion is in the rule's history with who and why, and in the edit log."""
    rule_set, replay, note = _begin(
        rule_set_id=rule_set_id,
        action=PolicyEdit.Action.DELETE,
        actor=actor,
        note=note,
        client_token=client_token,
    )
    if replay is not None:
        return replay
    rule = _rule_of(rule_set, rule_id)
    rule_id = rule.pk
    rule._history_user = actor
    rule._change_reason = f"Deleted: {note}"[:100]
    rule.delete()
    return _log(
        rule_set,
        rule,
        action=PolicyEdit.Action.DELETE,
        actor=actor,
        note=note,
        client_token=client_token,
        rule_id=rule_id,
    )


@transaction.atomic
def policy_rule_move(
    *,
    rule_set_id: int,
    rule_id: int,
    up: bool,
    actor: AbstractBaseUser,
    note: str,
    client_token: str,
) -> PolicyEdit:
    """Move a draft's rule one place up (or down) in precedence order.

    Effects: as `policy_rule_change`; refuses moving the first rule up or the last one down.
    The rules' priorities are renumbered in steps of PRIORITY_STEP in the new order, highest
    first, so the order on the screen is the order the engine applies; each rule whose
    priority changed gets a history row.
    """
    rule_set, replay, note = _begin(
        rule_set_id=rule_set_id,
        action=PolicyEdit.Action.MOVE,
        actor=actor,
        note=note,
        client_token=client_token,
    )
    if replay is not None:
        return replay
    moved = _rule_of(rule_set, rule_id)
    rules = sorted(
        PolicyRule.objects.select_for_update().filter(rule_set=rule_set), key=precedence_key
    )
    index = next(i for i, rule in enumerate(rules) if rule.pk == moved.pk)
    target = index - 1 if up else index + 1
    if not 0 <= target < len(rules):
        raise ValidationError(
            f"“{moved.name}” is already {'first' if up else 'last'}: it cannot move further."
        )
    rules[index], rules[target] = rules[target], rules[index]
    for position, rule in enumerate(rules):
        priority = (len(rules) - position) * PRIORITY_STEP
        if rule.priority != priority:
            rule.priority = priority
            save_with_history(rule, actor=actor, why=f"Reordered: {note}")
    return _log(
        rule_set,
        moved,
        action=PolicyEdit.Action.MOVE,
        actor=actor,
        note=note,
        client_token=client_token,
    )
