"""The return policy engine: which rule decides a returned order line, and what it decides.

`policy_decide` is pure: it reads no database, so the same rules and facts always give the same
decision, and a draft rule set can be tried out before it is published.

Precedence, in this order:
1. Only rules whose every criterion matches the line are candidates (a blank criterion
   matches anything).
2. The candidate with the highest `priority` decides.
3. On equal priority, the more specific rule decides: the one with more criteria set.
4. On equal specificity, the older rule (lower id) decides, so the order is total.

After the deciding rule, the return window applies: a line delivered more than
`return_window_days` ago is not eligible, whatever the rule would otherwise have decided.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from returns.models import (
    DecisionKind,
    PolicyRule,
    RefundTrigger,
    Resolution,
    ShippingPaidBy,
    WarrantyStatus,
)

# The criteria a rule can set, with how each is shown in an explanation.
CRITERIA = {
    "channel_id": "channel",
    "region": "region",
    "department": "department",
    "category_id": "category",
    "customer_segment": "customer segment",
    "warranty_status": "warranty status",
    "min_order_age_days": "order age from",
    "max_order_age_days": "order age up to",
    "min_item_value": "item value from",
    "max_item_value": "item value up to",
    "reason_code_id": "reason",
}


@dataclass(frozen=True)
class LineFacts:
    """What the policy knows about one order line being returned."""

    channel_id: int
    region: str
    department: str
    category_id: int
    customer_segment: str
    warranty_status: str
    order_age_days: int
    days_since_delivery: int
    item_value: Decimal
    reason_code_id: int


@dataclass(frozen=True)
class Decision:
    eligible: bool
    decision: str
    reason: str
    rule_id: int
    rule_name: str
    rule_set_id: int
    return_window_days: int
    refund_trigger: str
    resolutions: tuple[str, ...]
    restocking_fee_percent: Decimal
    return_shipping_paid_by: str
    explanation: tuple[str, ...] = field(default_factory=tuple)

    @property
    def decision_label(self) -> str:
        return DecisionKind(self.decision).label

    @property
    def refund_trigger_label(self) -> str:
        return RefundTrigger(self.refund_trigger).label

    @property
    def shipping_label(self) -> str:
        return ShippingPaidBy(self.return_shipping_paid_by).label

    @property
    def resolution_labels(self) -> list[str]:
        return [Resolution(name).label for name in self.resolutions]

    def as_json(self) -> dict:
        data = asdict(self)
        data["restocking_fee_percent"] = str(self.restocking_fee_percent)
        data["resolutions"] = list(self.resolutions)
        data["explanation"] = list(self.explanation)
        return data


class NoRuleMatches(Exception):
    """The rule set has no rule for this line: a gap in the policy, not a customer's fault."""


def warranty_status(*, warranty_months: int, delivered_at: datetime | None, now: datetime) -> str:
    """In warranty until `warranty_months` (of 30.44 days) have passed since delivery."""
    if not warranty_months:
        return WarrantyStatus.NO_WARRANTY
    if delivered_at is None:
        return WarrantyStatus.IN_WARRANTY
    days = (now - delivered_at).days
    return (
        WarrantyStatus.IN_WARRANTY
        if days <= round(warranty_months * 30.44)
        else WarrantyStatus.OUT_OF_WARRANTY
    )


def line_facts(*, order, line, reason_code_id: int, now: datetime) -> LineFacts:
    """The facts of returning `line` of `order` at `now`; reads loaded attributes only
    (order.channel, order.customer, line.product.category)."""
    product = line.product
    return LineFacts(
        channel_id=order.channel_id,
        region=order.channel.region,
        department=product.category.department,
        category_id=product.category_id,
        customer_segment=order.customer.segment,
        warranty_status=warranty_status(
            warranty_months=product.warranty_months, delivered_at=order.delivered_at, now=now
        ),
        order_age_days=days_between(now, order.placed_at),
        days_since_delivery=days_between(now, order.delivered_at),
        item_value=line.unit_price,
        reason_code_id=reason_code_id,
    )


def days_between(now: datetime, then: datetime | None) -> int:
    """Whole days from `then` to `now`; 0 when `then` is unknown or in the future."""
    return max((now - then).days, 0) if then else 0


def specificity(rule: PolicyRule) -> int:
    return sum(1 for name in CRITERIA if getattr(rule, name) not in (None, ""))


def _mismatch(rule: PolicyRule, facts: LineFacts) -> str | None:
    """The first criterion of `rule` the line fails, named for the explanation; None if all
    match."""
    equal = (
        "channel_id",
        "region",
        "department",
        "category_id",
        "customer_segment",
        "warranty_status",
        "reason_code_id",
    )
    for name in equal:
        wanted = getattr(rule, name)
        if wanted not in (None, "") and wanted != getattr(facts, name):
            return CRITERIA[name]
    bounds = (
        ("min_order_age_days", facts.order_age_days, lambda bound, v: v >= bound),
        ("max_order_age_days", facts.order_age_days, lambda bound, v: v <= bound),
        ("min_item_value", facts.item_value, lambda bound, v: v >= bound),
        ("max_item_value", facts.item_value, lambda bound, v: v <= bound),
    )
    for name, value, ok in bounds:
        bound = getattr(rule, name)
        if bound is not None and not ok(bound, value):
            return CRITERIA[name]
    return None


def precedence_key(rule: PolicyRule) -> tuple[int, int, int]:
    """Sorts the deciding rule first: priority, then specificity, then age."""
    return (-rule.priority, -specificity(rule), rule.pk)


def policy_decide(*, rules: Sequence[PolicyRule], facts: LineFacts) -> Decision:
    """Decide one returned line under `rules` (one rule set), with the reasons why."""
    candidates = []
    skipped = []
    for rule in rules:
        missed = _mismatch(rule, facts)
        if missed is None:
            candidates.append(rule)
        else:
            skipped.append(f"“{rule.name}” does not apply: {missed} differs.")
    if not candidates:
        raise NoRuleMatches("No rule of the policy covers this line.")
    candidates.sort(key=precedence_key)
    rule = candidates[0]
    explanation = [
        f"“{rule.name}” decides: priority {rule.priority}, {specificity(rule)} matching criteria."
    ]
    explanation += [
        f"“{other.name}” also matches but yields: "
        + (
            f"lower priority ({other.priority})."
            if other.priority < rule.priority
            else f"fewer criteria ({specificity(other)})."
            if specificity(other) < specificity(rule)
            else "it is newer."
        )
        for other in candidates[1:]
    ]
    explanation += skipped

    eligible = rule.eligible
    decision = rule.decision
    reason = rule.ineligible_reason
    if eligible and facts.days_since_delivery > rule.return_window_days:
        eligible = False
        decision = DecisionKind.DENY
        reason = (
            f"Outside the {rule.return_window_days}-day return window: delivered "
            f"{facts.days_since_delivery} days ago."
        )
        explanation.insert(1, reason)
    if eligible:
        reason = f"Within the {rule.return_window_days}-day return window."
    resolutions = tuple(
        name
        for name, offered in (
            ("refund", rule.offers_refund),
            ("store_credit", rule.offers_store_credit),
            ("exchange", rule.offers_exchange),
        )
        if offered
    )
    return Decision(
        eligible=eligible,
        decision=str(decision),
        reason=reason,
        rule_id=rule.pk,
        rule_name=rule.name,
        rule_set_id=rule.rule_set_id,
        return_window_days=rule.return_window_days,
        refund_trigger=rule.refund_trigger,
        resolutions=resolutions,
        restocking_fee_percent=rule.restocking_fee_percent,
        return_shipping_paid_by=rule.return_shipping_paid_by,
        explanation=tuple(explanation),
    )
