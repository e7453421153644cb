"""The policy screens: rules in precedence order, trying a rule set on one order line,
simulating it against recent cases, then publishing it."""

import pytest
from django.urls import reverse

from returns.models import DecisionKind, PolicyRuleSet
from returns.selectors import policy_rule_set_simulate
from returns.services import policy_rule_set_copy
from tests.returns.conftest import delivered_order, open_case


@pytest.fixture
def ops_client(client, operations_user):
    client.force_login(operations_user)
    return client


def test_a_draft_is_simulated_against_recent_cases_before_publishing(cs_user, operations_user):
    # given two cases under v1, one of them a high-value item
    open_case(delivered_order(lines=((1, "30.00"),)), cs_user)
    open_case(delivered_order(lines=((1, "200.00"),)), cs_user)
    v1 = PolicyRuleSet.objects.get(version=1)
    # when a draft sends items of 100 or more to review
    draft = policy_rule_set_copy(rule_set_id=v1.pk, actor=operations_user)
    draft.rules.filter(name__startswith="High-value").update(min_item_value=100)
    simulation = policy_rule_set_simulate(rule_set=draft)
    # then exactly the 200.00 case would change, and nothing was written
    assert (simulation.cases, simulation.changed_cases) == (2, 1)
    (row,) = simulation.changed
    assert row.line.unit_price == 200
    assert row.before.startswith("Authorize automatically, 30 days")
    assert row.after.startswith("Hold for manual review, 30 days")
    assert PolicyRuleSet.objects.get(pk=draft.pk).state == PolicyRuleSet.State.DRAFT


def test_simulating_the_published_set_changes_nothing(cs_user):
    open_case(delivered_order(), cs_user)
    simulation = policy_rule_set_simulate(rule_set=PolicyRuleSet.objects.get(version=1))
    assert (simulation.cases, simulation.changed_cases, simulation.uncovered) == (1, 0, 0)


def test_the_policy_page_tries_one_line_and_simulates(ops_client, cs_user):
    order = delivered_order(days_ago=45)
    open_case(delivered_order(), cs_user)
    v1 = PolicyRuleSet.objects.get(version=1)
    url = reverse("policy_detail", args=[v1.pk])
    page = ops_client.get(
        url, {"order_number": order.number, "line_number": 1, "reason_code": "CHANGED_MIND"}
    )
    html = page.content.decode()
    assert "not eligible — Outside the 30-day return window: delivered 45 days ago." in html
    assert [r.priority for r in page.context["rules"]] == sorted(
        (r.priority for r in page.context["rules"]), reverse=True
    )
    simulated = ops_client.get(url, {"simulate": "1"}).content.decode()
    assert "0 of 1 cases would be decided differently" in simulated


def test_publishing_from_the_page(ops_client, operations_user):
    v1 = PolicyRuleSet.objects.get(version=1)
    copied = ops_client.post(reverse("policy_action", args=[v1.pk, "copy"]))
    draft = PolicyRuleSet.objects.get(state=PolicyRuleSet.State.DRAFT)
    assert copied["Location"] == reverse("policy_detail", args=[draft.pk])
    assert draft.rules.count() == v1.rules.count()
    draft.rules.update(decision=DecisionKind.MANUAL_REVIEW)
    ops_client.post(reverse("policy_action", args=[draft.pk, "publish"]))
    draft.refresh_from_db()
    v1.refresh_from_db()
    assert (draft.state, v1.state) == (PolicyRuleSet.State.PUBLISHED, PolicyRuleSet.State.RETIRED)
    assert draft.published_by == operations_user


def test_an_agent_may_read_the_policy_but_not_publish(client, cs_user):
    client.force_login(cs_user)
    v1 = PolicyRuleSet.objects.get(version=1)
    assert client.get(reverse("policy_list")).status_code == 200
    assert client.post(reverse("policy_action", args=[v1.pk, "copy"])).status_code == 403
    assert PolicyRuleSet.objects.count() == 1
