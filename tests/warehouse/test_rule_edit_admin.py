"""The rule edit log (who changed which disposition rule from the rule screen, when, why) in
the Django admin: administrators read it; nobody adds, changes or deletes an entry there."""

import pytest

from warehouse.models import DispositionRule, DispositionRuleEdit

pytestmark = pytest.mark.django_db
LIST = "/admin/warehouse/dispositionruleedit/"


@pytest.fixture
def edit(operations_user):
    rule = DispositionRule.objects.create(
        name="Grade C liquidates", priority=3, grade="C", outcome="liquidation"
    )
    return DispositionRuleEdit.objects.create(
        rule=rule,
        client_token="t" * 32,
        note="Grade C sells by the pallet",
        edited_by=operations_user,
    )


def test_an_administrator_reads_the_rule_edit_log(client, administrator_user, edit):
    client.force_login(administrator_user)

    listing = client.get(LIST, {"q": "pallet"})
    detail = client.get(f"{LIST}{edit.pk}/change/")

    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Grade C liquidates" in page
    assert "Grade C sells by the pallet" in page
    assert detail.status_code == 200
    assert "Grade C sells by the pallet" in detail.content.decode()


def test_the_rule_edit_log_cannot_be_written_in_the_admin(client, administrator_user, edit):
    client.force_login(administrator_user)
    before = list(DispositionRuleEdit.objects.values())

    added = client.post(f"{LIST}add/", {"rule": edit.rule_id, "note": "forged"})
    changed = client.post(f"{LIST}{edit.pk}/change/", {"note": "rewritten"})
    deleted = client.post(f"{LIST}{edit.pk}/delete/", {"post": "yes"})

    assert added.status_code == changed.status_code == deleted.status_code == 403
    assert list(DispositionRuleEdit.objects.values()) == before
    assert "Add disposition rule edit" not in client.get(LIST).content.decode()


def test_other_roles_do_not_see_the_rule_edit_log(client, operations_user, edit):
    client.force_login(operations_user)
    response = client.get(LIST)
    assert response.status_code in (302, 403)
