"""Rule precedence (pure), the default policy, and versioning: publishing never changes a
decision already made."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from erp.models import Customer
from returns import services
from returns.models import DecisionKind, PolicyRule, PolicyRuleSet, RefundTrigger, ReturnCase
from returns.policy import LineFacts, NoRuleMatches, policy_decide, warranty_status
from tests.factories import PolicyRuleFactory
from tests.returns.conftest import ask, delivered_order, open_case


def facts(**overrides) -> LineFacts:
    base = {
        "channel_id": 1,
        "region": "US",
        "department": "apparel",
        "category_id": 7,
        "customer_segment": "standard",
        "warranty_status": "no_warranty",
        "order_age_days": 10,
        "days_since_delivery": 5,
        "item_value": Decimal("30.00"),
        "reason_code_id": 3,
    }
    return LineFacts(**{**base, **overrides})


def rule(pk: int, **fields) -> PolicyRule:
    fields.setdefault("name", f"rule {pk}")
    return PolicyRule(pk=pk, rule_set_id=1, **fields)


def test_highest_priority_decides():
    # given a general rule and a higher-priority one that also matches
    rules = [rule(1, priority=0), rule(2, priority=5, return_window_days=60)]
    # when
    decision = policy_decide(rules=rules, facts=facts())
    # then
    assert decision.rule_id == 2
    assert decision.return_window_days == 60
    assert "lower priority (0)" in decision.explanation[1]


def test_on_equal_priority_the_more_specific_rule_decides():
    rules = [
        rule(1, priority=5),
        rule(2, priority=5, department="apparel", customer_segment="standard"),
        rule(3, priority=5, department="apparel"),
    ]
    decision = policy_decide(rules=rules, facts=facts())
    assert decision.rule_id == 2
    assert decision.explanation[0].endswith("2 matching criteria.")
    assert any("fewer criteria (1)" in line for line in decision.explanation)


def test_on_equal_priority_and_specificity_the_older_rule_decides():
    rules = [rule(9, department="apparel"), rule(4, region="US")]
    decision = policy_decide(rules=rules, facts=facts())
    assert decision.rule_id == 4
    assert "it is newer." in decision.explanation[1]


def test_a_rule_whose_criterion_differs_does_not_apply_and_says_which():
    rules = [
        rule(1),
        rule(2, priority=9, department="electronics"),
        rule(3, priority=8, min_item_value=Decimal("100")),
    ]
    decision = policy_decide(rules=rules, facts=facts())
    assert decision.rule_id == 1
    assert "“rule 2” does not apply: department differs." in decision.explanation
    assert "“rule 3” does not apply: item value from differs." in decision.explanation


@pytest.mark.parametrize(
    ("field", "value", "matches"),
    [
        ("channel_id", 2, False),
        ("region", "EU", False),
        ("category_id", 7, True),
        ("customer_segment", "vip", False),
        ("warranty_status", "no_warranty", True),
        ("min_order_age_days", 11, False),
        ("max_order_age_days", 10, True),
        ("max_item_value", Decimal("29.99"), False),
        ("reason_code_id", 3, True),
    ],
)
def test_each_criterion_is_matched(field, value, matches):
    rules = [rule(1), rule(2, priority=1, **{field: value})]
    assert (policy_decide(rules=rules, facts=facts()).rule_id == 2) is matches


def test_outside_the_window_is_not_eligible_whatever_the_rule():
    decision = policy_decide(
        rules=[rule(1, return_window_days=30)], facts=facts(days_since_delivery=31)
    )
    assert not decision.eligible
    assert decision.decision == DecisionKind.DENY
    assert decision.reason == "Outside the 30-day return window: delivered 31 days ago."


def test_a_denying_rule_gives_its_reason_and_the_outcome_fields():
    decision = policy_decide(
        rules=[
            rule(
                1,
                decision=DecisionKind.DENY,
                ineligible_reason="Final sale.",
                offers_exchange=False,
            )
        ],
        facts=facts(),
    )
    assert (decision.eligible, decision.reason) == (False, "Final sale.")
    assert decision.resolutions == ("refund", "store_credit")


def test_no_matching_rule_is_a_gap_in_the_policy():
    with pytest.raises(NoRuleMatches):
        policy_decide(rules=[rule(1, region="EU")], facts=facts())


def test_warranty_status_from_delivery_and_warranty_months():
    now = timezone.now()
    assert warranty_status(warranty_months=0, delivered_at=now, now=now) == "no_warranty"
    assert (
        warranty_status(warranty_months=12, delivered_at=now - timedelta(days=365), now=now)
        == "in_warranty"
    )
    assert (
        warranty_status(warranty_months=12, delivered_at=now - timedelta(days=366), now=now)
        == "out_of_warranty"
    )


# ---- The default published policy (returns 0002) ---------------------------------------------


def test_default_policy_vip_gets_sixty_days_and_refund_on_receipt(cs_user):
    order = delivered_order(days_ago=45, segment=Customer.Segment.VIP)
    case = open_case(order, cs_user)
    assert case.state == ReturnCase.State.AUTHORIZED
    assert case.deciding_rule.name == "VIP: 60 days, refund on receipt"
    assert case.refund_trigger == RefundTrigger.ON_RECEIPT


def test_default_policy_denies_wholesale_with_the_reason_for_the_agent(cs_user):
    order = delivered_order(segment=Customer.Segment.WHOLESALE)
    with pytest.raises(ValidationError, match="trade agreement"):
        open_case(order, cs_user)


def test_default_policy_electronics_fee_and_customer_pays_shipping(cs_user):
    order = delivered_order(department="electronics")
    case = open_case(order, cs_user)
    assert case.restocking_fee_percent == Decimal("15.00")
    assert case.return_shipping_paid_by == "customer"


def test_default_policy_defective_in_warranty_is_reviewed_past_the_normal_window(cs_user):
    order = delivered_order(days_ago=200, warranty_months=24)
    case = open_case(
        order,
        cs_user,
        ask(order.lines.first(), reason="DEFECTIVE_OR_DAMAGED", condition="defective"),
    )
    assert case.state == ReturnCase.State.PENDING_REVIEW
    assert case.deciding_rule.name.startswith("Defective in warranty")


# ---- Versioning ------------------------------------------------------------------------------


def test_publishing_a_new_version_leaves_decided_cases_as_they_were(cs_user, operations_user):
    # given a case decided under v1
    order = delivered_order(lines=((2, "30.00"),))
    before = open_case(order, cs_user)
    v1 = PolicyRuleSet.objects.get(state=PolicyRuleSet.State.PUBLISHED)
    # when v2 makes every return go to review, and is published
    draft = services.policy_rule_set_copy(rule_set_id=v1.pk, actor=operations_user, name="Stricter")
    draft.rules.update(decision=DecisionKind.MANUAL_REVIEW)
    services.policy_rule_set_publish(rule_set_id=draft.pk, actor=operations_user)
    # then the old case keeps its version, rule and decision
    before.refresh_from_db()
    assert before.rule_set_id == v1.pk
    assert before.deciding_rule.decision == DecisionKind.AUTO_AUTHORIZE
    assert before.decision["summary"] == "Authorized automatically"
    assert before.state == ReturnCase.State.AUTHORIZED
    v1.refresh_from_db()
    assert v1.state == PolicyRuleSet.State.RETIRED
    # and a new case is decided by v2
    after = open_case(order, cs_user)
    assert after.rule_set_id == draft.pk
    assert after.state == ReturnCase.State.PENDING_REVIEW


def test_publishing_needs_the_permission_and_changes_nothing_when_refused(cs_user):
    draft = PolicyRuleFactory().rule_set
    with pytest.raises(PermissionDenied):
        services.policy_rule_set_publish(rule_set_id=draft.pk, actor=cs_user)
    draft.refresh_from_db()
    assert draft.state == PolicyRuleSet.State.DRAFT
    assert PolicyRuleSet.objects.get(version=1).state == PolicyRuleSet.State.PUBLISHED


def test_only_a_draft_with_rules_can_be_published(operations_user):
    v1 = PolicyRuleSet.objects.get(version=1)
    with pytest.raises(ValidationError, match="not a draft"):
        services.policy_rule_set_publish(rule_set_id=v1.pk, actor=operations_user)
    empty = PolicyRuleSet.objects.create(version=2, name="Empty")
    with pytest.raises(ValidationError, match="without rules"):
        services.policy_rule_set_publish(rule_set_id=empty.pk, actor=operations_user)
    assert PolicyRuleSet.objects.get(version=1).state == PolicyRuleSet.State.PUBLISHED
