"""Operations managers list, preview and edit disposition rules; every change is audited and
a bad one is refused beside its field, writing nothing."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from erp.models import Category
from warehouse.models import DispositionRule, DispositionRuleEdit
from warehouse.rules import DispositionFacts
from warehouse.services import disposition_rule_preview, disposition_rule_save

UNPROCESSABLE = 422


@pytest.fixture
def manager(client, operations_user):
    client.force_login(operations_user)
    return client


@pytest.fixture
def rules(db):
    DispositionRule.objects.all().delete()
    return [
        DispositionRule.objects.create(
            name="Grade A restocks", priority=10, grade="A", outcome="restock"
        ),
        DispositionRule.objects.create(
            name="Apparel A liquidates",
            priority=5,
            grade="A",
            department="apparel",
            outcome="liquidation",
        ),
    ]


def facts(**overrides) -> DispositionFacts:
    values = {
        "grade": "A",
        "department": "apparel",
        "category_id": None,
        "reason_group": "",
        "reason_code_id": None,
        "channel_kind": "storefront",
        "is_high_value": False,
        "serial_tracked": False,
        "matched": True,
    }
    return DispositionFacts(**{**values, **overrides})


def test_the_preview_names_the_rule_that_decides_and_sees_unsaved_edits(rules):
    restock, liquidate = rules
    assert disposition_rule_preview(facts=facts(), rules=rules).rule == restock
    # given: the apparel rule raised above the other, not saved
    liquidate.priority = 20
    suggestion = disposition_rule_preview(facts=facts(), rules=rules)
    assert (suggestion.rule, suggestion.outcome) == (liquidate, "liquidation")
    assert DispositionRule.objects.get(pk=liquidate.pk).priority == 5


def test_a_manager_edits_a_rule_with_a_note_and_history_names_them(rules, operations_user):
    restock = rules[0]
    disposition_rule_save(
        rule_id=restock.pk,
        values={"priority": 3, "outcome": "refurbish"},
        note="Grade A goes through refurbishment first",
        actor=operations_user,
    )
    restock.refresh_from_db()
    assert (restock.priority, restock.outcome) == (3, "refurbish")
    latest = restock.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        operations_user,
        "Grade A goes through refurbishment first",
    )


@pytest.mark.parametrize(
    ("values", "note", "field"),
    [
        ({"outcome": "hold"}, "why", "outcome"),
        ({"outcome": "restock"}, "  ", "note"),
        ({"department": "electronics", "category": "apparel"}, "why", "category"),
    ],
)
def test_a_bad_rule_is_refused_and_nothing_changes(rules, operations_user, values, note, field):
    restock = rules[0]
    if values.get("category"):
        values = {
            **values,
            "category": Category.objects.create(code="tees", name="Tees", department="apparel"),
        }
    before = restock.history.count()
    with pytest.raises(ValidationError) as refusal:
        disposition_rule_save(rule_id=restock.pk, values=values, note=note, actor=operations_user)
    assert field in refusal.value.message_dict
    restock.refresh_from_db()
    assert (restock.outcome, restock.history.count()) == ("restock", before)


def test_the_bench_may_not_change_rules(rules, warehouse_user):
    with pytest.raises(PermissionDenied):
        disposition_rule_save(
            rule_id=rules[0].pk, values={"priority": 1}, note="why", actor=warehouse_user
        )


def test_the_screens_list_preview_create_and_refuse_beside_the_field(manager, rules):
    # when: the list is asked which rule decides a grade-A apparel unit
    page = manager.get(
        reverse("warehouse_rules"), {"grade": "A", "department": "apparel", "matched": "on"}
    )
    assert page.status_code == 200
    assert "Rule “Grade A restocks” (priority 10)" in page.content.decode()
    # when: a new rule is posted without a note: refused beside the field, nothing written
    url = reverse("warehouse_rule_new")
    form = {
        "name": "B refurbishes",
        "priority": "1",
        "grade": "B",
        "outcome": "refurbish",
        "is_active": "on",
        "client_token": "rule-form-1",
    }
    refused = manager.post(url, {**form, "note": ""})
    assert refused.status_code == UNPROCESSABLE
    assert DispositionRule.objects.count() == 2
    # when: with a note it is created, and the edit screen shows it
    created = manager.post(url, {**form, "note": "Grade B is worth refurbishing"})
    assert created.status_code == 302
    rule = DispositionRule.objects.get(name="B refurbishes")
    assert rule.history.latest().history_change_reason == "Grade B is worth refurbishing"
    assert manager.get(reverse("warehouse_rule_edit", args=[rule.pk])).status_code == 200
    # and: "hold" is not offered as an outcome
    assert 'value="hold"' not in manager.get(url).content.decode()


def test_the_rule_form_carries_a_client_token_and_a_double_submit_saves_once(manager, rules):
    # given: the new-rule form, as rendered, with its token
    page = manager.get(reverse("warehouse_rule_new")).content.decode()
    token = re.search(r'name="client_token" value="([0-9a-f]{32})"', page).group(1)
    form = {
        "name": "C liquidates",
        "priority": "2",
        "grade": "C",
        "outcome": "liquidation",
        "is_active": "on",
        "note": "Grade C sells better by the pallet",
        "client_token": token,
    }
    # when: the manager taps Save twice (the second after the first landed)
    first = manager.post(reverse("warehouse_rule_new"), form)
    second = manager.post(reverse("warehouse_rule_new"), form)
    # then: one rule, one history row, one edit naming the manager; both taps land on the list
    assert first.status_code == second.status_code == 302
    rule = DispositionRule.objects.get(name="C liquidates")
    assert DispositionRule.objects.count() == 3
    assert rule.history.count() == 1
    edit = DispositionRuleEdit.objects.get(client_token=token)
    assert (edit.rule, edit.note) == (rule, "Grade C sells better by the pallet")
    # when: an edit of that rule is submitted twice with its own token
    edit_url = reverse("warehouse_rule_edit", args=[rule.pk])
    changed = {**form, "priority": "7", "note": "Above grade-A rules", "client_token": "e" * 32}
    assert manager.post(edit_url, changed).status_code == 302
    assert manager.post(edit_url, {**changed, "priority": "9"}).status_code == 302
    # then: the first submit counts; the replay changed nothing
    rule.refresh_from_db()
    assert (rule.priority, rule.history.count(), rule.edits.count()) == (7, 2, 2)


def test_a_replayed_rule_save_writes_nothing_even_after_a_refusal(rules, operations_user):
    restock = rules[0]
    saved = disposition_rule_save(
        rule_id=restock.pk,
        values={"priority": 4},
        note="Lower it",
        actor=operations_user,
        client_token="t-1",
    )
    assert saved.replayed is False
    replay = disposition_rule_save(
        rule_id=restock.pk,
        values={"priority": 99},
        note="Again",
        actor=operations_user,
        client_token="t-1",
    )
    restock.refresh_from_db()
    assert (replay.replayed, replay.pk, restock.priority) == (True, restock.pk, 4)
    assert restock.history.count() == 2
