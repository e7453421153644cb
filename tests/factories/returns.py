import factory

from returns.models import DecisionKind, PolicyRule, PolicyRuleSet, ReturnCase

from .master_data import SalesOrderFactory


class PolicyRuleSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PolicyRuleSet

    version = factory.Sequence(lambda n: 100 + n)
    name = factory.Sequence(lambda n: f"Policy draft {n}")
    state = PolicyRuleSet.State.DRAFT


class PolicyRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PolicyRule

    rule_set = factory.SubFactory(PolicyRuleSetFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    priority = 0
    return_window_days = 30
    decision = DecisionKind.AUTO_AUTHORIZE


class ReturnCaseFactory(factory.django.DjangoModelFactory):
    """A case as a row, for pages that only need one to exist; behaviour is tested through
    `returns.services`, which is how real cases are made."""

    class Meta:
        model = ReturnCase

    rma_number = factory.Sequence(lambda n: f"RMA-F{n:07d}")
    order = factory.SubFactory(SalesOrderFactory)
    channel = factory.LazyAttribute(lambda case: case.order.channel)
    customer = factory.LazyAttribute(lambda case: case.order.customer)
    source = "customer_service"
    resolution = "refund"
    deciding_rule = factory.SubFactory(PolicyRuleFactory)
    rule_set = factory.LazyAttribute(lambda case: case.deciding_rule.rule_set)
    decision = factory.LazyFunction(lambda: {"summary": "Held for manual review", "lines": []})
    refund_trigger = "on_inspection"
    restocking_fee_percent = 0
    return_shipping_paid_by = "merchant"
    state = "pending_review"
