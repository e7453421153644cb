"""Editing a draft return policy on the operations screens: add, change, delete and reorder
rules, each validated, logged with who and why, applied once per client token; published
sets stay read-only; simulate and publish the draft."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from erp.models import Category
from erp.roles import Role
from returns import policy_drafts
from returns.models import DecisionKind, PolicyEdit, PolicyRule, PolicyRuleSet
from returns.policy import precedence_key
from returns.services import policy_rule_set_copy
from tests.returns.conftest import delivered_order, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, operations_user):
    client.force_login(operations_user)
    return client


@pytest.fixture
def draft(operations_user) -> PolicyRuleSet:
    v1 = PolicyRuleSet.objects.get(version=1)
    return policy_rule_set_copy(rule_set_id=v1.pk, actor=operations_user)


def form_data(**overrides) -> dict:
    """A complete rule form: electronics over 500 held for review, why and a token."""
    data = {
        "name": "Expensive electronics: review",
        "priority": "50",
        "department": Category.Department.ELECTRONICS,
        "min_item_value": "500",
        "return_window_days": "15",
        "decision": DecisionKind.MANUAL_REVIEW,
        "refund_trigger": "on_inspection",
        "offers_refund": "on",
        "restocking_fee_percent": "10",
        "return_shipping_paid_by": "customer",
        "note": "Too many swapped phones last quarter",
        "client_token": "tok-add-1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def snapshot(rule_set) -> list[tuple]:
    """What a refused edit must leave as it was."""
    rules = PolicyRule.objects.filter(rule_set=rule_set).order_by("pk")
    return [
        *rules.values_list("pk", "name", "priority", "decision", "min_item_value"),
        PolicyEdit.objects.count(),
        PolicyRule.history.count(),
    ]


def ordered_names(rule_set) -> list[str]:
    return [r.name for r in sorted(rule_set.rules.all(), key=precedence_key)]


# ---- Adding and changing ----------------------------------------------------------------------


def test_adding_a_rule_from_the_form_logs_who_and_why(ops_client, draft, operations_user):
    # when an operations manager adds a rule to the draft
    url = reverse("policy_rule_add", args=[draft.pk])
    assert "Add the rule" in ops_client.get(url).content.decode()
    response = ops_client.post(url, form_data())
    # then it is on the draft, with every criterion and outcome as entered
    assert response.status_code == 302
    assert response["Location"] == reverse("policy_detail", args=[draft.pk])
    rule = draft.rules.get(name="Expensive electronics: review")
    assert (rule.priority, rule.department, str(rule.min_item_value)) == (
        50,
        "electronics",
        "500.00",
    )
    assert (rule.decision, rule.return_window_days, str(rule.restocking_fee_percent)) == (
        "manual_review",
        15,
        "10.00",
    )
    assert (rule.offers_refund, rule.offers_store_credit, rule.offers_exchange) == (
        True,
        False,
        False,
    )
    # and the edit log and the rule's history say who and why
    edit = PolicyEdit.objects.get()
    assert (edit.action, edit.actor, edit.rule_id) == ("add", operations_user, rule.pk)
    assert edit.note == "Too many swapped phones last quarter"
    history = rule.history.latest()
    assert history.history_user == operations_user
    assert history.history_change_reason == "Added: Too many swapped phones last quarter"
    page = ops_client.get(reverse("policy_detail", args=[draft.pk])).content.decode()
    assert "Too many swapped phones last quarter" in page


def test_the_same_form_submitted_twice_adds_one_rule(ops_client, draft):
    url = reverse("policy_rule_add", args=[draft.pk])
    count = draft.rules.count()
    first = ops_client.post(url, form_data())
    second = ops_client.post(url, form_data())
    assert (first.status_code, second.status_code) == (302, 302)
    assert draft.rules.count() == count + 1
    assert PolicyEdit.objects.count() == 1


def test_changing_a_rule(ops_client, draft, operations_user):
    rule = draft.rules.get(priority=0)
    url = reverse("policy_rule_edit", args=[draft.pk, rule.pk])
    assert rule.name in ops_client.get(url).content.decode()
    response = ops_client.post(
        url,
        form_data(
            name="Standard: 21 days",
            priority="0",
            department="",
            min_item_value="",
            decision=DecisionKind.AUTO_AUTHORIZE,
            return_window_days="21",
            note="Shorter window from January",
            client_token="tok-change-1",
        ),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.return_window_days, rule.department) == ("Standard: 21 days", 21, "")
    assert rule.history.latest().history_change_reason == "Changed: Shorter window from January"
    assert PolicyEdit.objects.get().action == "change"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"decision": "deny", "ineligible_reason": ""},
            None,
            "A rule that denies a return says why",
        ),
        ({"restocking_fee_percent": "120"}, "restocking_fee_percent", "less than or equal to 100"),
        ({"min_item_value": "500", "max_item_value": "100"}, "max_item_value", "below its “from”"),
        (
            {"min_order_age_days": "40", "max_order_age_days": "10"},
            "max_order_age_days",
            "below its “from”",
        ),
        ({"offers_refund": None}, "offers_refund", "offers at least one resolution"),
        ({"return_window_days": "0"}, "return_window_days", "at least one day"),
        ({"decision": "sometimes"}, "decision", "not one of the available choices"),
        ({"note": ""}, "note", "This field is required"),
        ({"name": ""}, "name", "This field is required"),
    ],
)
def test_a_bad_rule_is_refused_with_a_clear_error_and_nothing_written(
    ops_client, draft, overrides, field, message
):
    before = snapshot(draft)
    response = ops_client.post(reverse("policy_rule_add", args=[draft.pk]), form_data(**overrides))
    assert response.status_code == 422
    form = response.context["form"]
    errors = form.errors.get(field or "__all__", [])
    assert any(message in error for error in errors), form.errors
    assert snapshot(draft) == before


def test_a_published_set_is_read_only(ops_client, operations_user):
    v1 = PolicyRuleSet.objects.get(version=1)
    rule = v1.rules.first()
    before = snapshot(v1)
    # the rule page shows it without a way to save, and the set's page without edit controls
    page = ops_client.get(reverse("policy_rule_edit", args=[v1.pk, rule.pk])).content.decode()
    assert "its rules never change" in page
    assert "Save the rule" not in page
    detail = ops_client.get(reverse("policy_detail", args=[v1.pk])).content.decode()
    assert "Add a rule" not in detail
    assert "never changes" in detail
    # and a forged POST is refused with the reason, writing nothing
    response = ops_client.post(
        reverse("policy_rule_edit", args=[v1.pk, rule.pk]), form_data(client_token="tok-pub")
    )
    assert response.status_code == 422
    assert "Copy it to a new draft" in str(response.context["form"].non_field_errors())
    with pytest.raises(ValidationError, match="never changes"):
        policy_drafts.policy_rule_delete(
            rule_set_id=v1.pk, rule_id=rule.pk, actor=operations_user, note="x", client_token="t"
        )
    assert snapshot(v1) == before


def test_a_rule_of_another_set_is_not_found(ops_client, draft):
    v1_rule = PolicyRuleSet.objects.get(version=1).rules.first()
    url = reverse("policy_rule_edit", args=[draft.pk, v1_rule.pk])
    assert ops_client.get(url).status_code == 404


# ---- Deleting and reordering ------------------------------------------------------------------


def test_deleting_a_rule_needs_a_reason(ops_client, draft, operations_user):
    rule = draft.rules.get(name__startswith="Electronics")
    url = reverse("policy_rule_delete", args=[draft.pk, rule.pk])
    before = snapshot(draft)
    refused = ops_client.post(url, {"client_token": "tok-del", "note": ""})
    assert refused.status_code == 302
    assert snapshot(draft) == before
    ops_client.post(url, {"client_token": "tok-del", "note": "Electronics follow the standard"})
    assert not draft.rules.filter(pk=rule.pk).exists()
    deleted = PolicyRule.history.filter(id=rule.pk, history_type="-").get()
    assert deleted.history_user == operations_user
    assert deleted.history_change_reason == "Deleted: Electronics follow the standard"
    edit = PolicyEdit.objects.get()
    assert (edit.action, edit.rule_id, edit.rule_name) == ("delete", rule.pk, rule.name)


def test_moving_a_rule_up_renumbers_the_priorities_in_the_new_order(ops_client, draft):
    names = ordered_names(draft)
    second = next(r for r in draft.rules.all() if r.name == names[1])
    ops_client.post(
        reverse("policy_rule_move", args=[draft.pk, second.pk, "up"]), {"client_token": "tok-m1"}
    )
    moved = ordered_names(draft)
    assert moved == [names[1], names[0], *names[2:]]
    priorities = [r.priority for r in sorted(draft.rules.all(), key=precedence_key)]
    assert priorities == sorted({*priorities}, reverse=True)  # strictly decreasing
    # the same button pressed twice moves once
    ops_client.post(
        reverse("policy_rule_move", args=[draft.pk, second.pk, "up"]), {"client_token": "tok-m1"}
    )
    assert ordered_names(draft) == moved
    assert PolicyEdit.objects.get().note == f"Moved “{second.name}” up"


def test_the_first_rule_cannot_move_up(ops_client, draft):
    first = sorted(draft.rules.all(), key=precedence_key)[0]
    before = snapshot(draft)
    response = ops_client.post(
        reverse("policy_rule_move", args=[draft.pk, first.pk, "up"]),
        {"client_token": "tok-m2"},
        follow=True,
    )
    assert "is already first" in response.content.decode()
    assert snapshot(draft) == before


# ---- Permissions ------------------------------------------------------------------------------


def test_customer_service_cannot_edit_and_nothing_changes(client, cs_user, draft):
    client.force_login(cs_user)
    rule = draft.rules.first()
    before = snapshot(draft)
    assert client.get(reverse("policy_rule_add", args=[draft.pk])).status_code == 403
    assert client.post(reverse("policy_rule_add", args=[draft.pk]), form_data()).status_code == 403
    assert (
        client.post(reverse("policy_rule_edit", args=[draft.pk, rule.pk]), form_data()).status_code
        == 403
    )
    assert (
        client.post(
            reverse("policy_rule_delete", args=[draft.pk, rule.pk]),
            {"client_token": "t", "note": "x"},
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("policy_rule_move", args=[draft.pk, rule.pk, "down"]), {"client_token": "t"}
        ).status_code
        == 403
    )
    with pytest.raises(PermissionDenied):
        policy_drafts.policy_rule_add(
            rule_set_id=draft.pk, fields={}, actor=cs_user, note="x", client_token="t"
        )
    assert snapshot(draft) == before
    # the draft's page shows no edit controls to a reader
    page = client.get(reverse("policy_detail", args=[draft.pk])).content.decode()
    assert "Add a rule" not in page
    assert "Move up" not in page


def test_an_editor_without_publish_permission_edits_but_cannot_publish(client, make_user, draft):
    editor = make_user(Role.CUSTOMER_SERVICE, username="policy.editor")
    for codename in ("add_policyrule", "change_policyrule", "delete_policyrule"):
        editor.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(editor)
    response = client.post(reverse("policy_rule_add", args=[draft.pk]), form_data())
    assert response.status_code == 302
    assert client.post(reverse("policy_action", args=[draft.pk, "publish"])).status_code == 403
    draft.refresh_from_db()
    assert draft.state == PolicyRuleSet.State.DRAFT


# ---- Simulate, then publish -------------------------------------------------------------------


def test_an_edited_draft_is_simulated_then_published(ops_client, cs_user, draft, operations_user):
    # given a case under v1 for a 200.00 item
    open_case(delivered_order(lines=((1, "200.00"),)), cs_user)
    # when the draft sends items of 100 or more to review, through the form
    ops_client.post(
        reverse("policy_rule_add", args=[draft.pk]),
        form_data(
            name="Over 100: review",
            priority="100",
            department="",
            min_item_value="100",
            note="Trial",
            client_token="tok-sim",
        ),
    )
    # then the simulation on the draft shows the case would change
    page = ops_client.get(reverse("policy_detail", args=[draft.pk]), {"simulate": "1"})
    assert "1 of 1 cases would be decided differently" in page.content.decode()
    # and publishing makes it the policy, after which it is read-only
    ops_client.post(reverse("policy_action", args=[draft.pk, "publish"]))
    draft.refresh_from_db()
    assert draft.state == PolicyRuleSet.State.PUBLISHED
    response = ops_client.post(
        reverse("policy_rule_add", args=[draft.pk]), form_data(client_token="tok-after")
    )
    assert response.status_code == 422
    assert not draft.rules.filter(name="Expensive electronics: review").exists()
