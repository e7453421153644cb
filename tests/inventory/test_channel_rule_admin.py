"""Editing a channel rule or safety stock in the admin goes through the services: ATS is
recomputed at once, a push is queued where it changed, and the change is in the history."""

import json

import pytest
from django.urls import reverse

from erp.models import OutboxMessage
from inventory import services
from inventory.models import ChannelRule, SafetyStock
from inventory.models import StockState as S
from tests.inventory.conftest import ats, ledger_counts


@pytest.fixture
def admin(client, administrator_user):
    client.force_login(administrator_user)
    return client


def receive_plain(world, qty=10):
    services.stock_receive(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=qty, idempotency_key="in-1"
    )


def pushed(world, channel) -> list[int]:
    return [
        message.payload["ats"]
        for message in OutboxMessage.objects.filter(topic="availability.changed").order_by("id")
        if message.payload["channel_id"] == channel.pk
    ]


def test_adding_and_changing_safety_stock_in_the_admin_recomputes_ats(
    admin, world, administrator_user
):
    # given 10 available on every channel
    receive_plain(world)
    assert ats(world.plain, world.storefront) == 10

    # when an administrator holds 3 back from the storefront
    response = admin.post(
        reverse("admin:inventory_safetystock_add"),
        {"channel": world.storefront.pk, "product": world.plain.pk, "qty": 3},
    )

    # then the storefront sells 7 at once, a push says so, and the history names who
    assert response.status_code == 302, response.context and response.context["errors"]
    assert ats(world.plain, world.storefront) == 7
    assert ats(world.plain, world.outlet) == 10
    assert pushed(world, world.storefront) == [10, 7]
    safety = SafetyStock.objects.get()
    assert safety.history.latest().history_user == administrator_user

    # when it is changed to 5, and then deleted
    admin.post(
        reverse("admin:inventory_safetystock_change", args=[safety.pk]),
        {"qty": 5},
    )
    assert ats(world.plain, world.storefront) == 5
    admin.post(reverse("admin:inventory_safetystock_delete", args=[safety.pk]), {"post": "yes"})

    # then the figure follows each edit, with one push per change
    assert not SafetyStock.objects.exists()
    assert ats(world.plain, world.storefront) == 10
    assert pushed(world, world.storefront) == [10, 7, 5, 10]
    assert [h.history_type for h in safety.history.order_by("history_id")] == ["+", "~", "-"]


def test_changing_a_channel_rule_in_the_admin_recomputes_ats(admin, world, administrator_user):
    # given 10 available and 4 in refurbishment; the outlet's rule sells both states
    receive_plain(world, qty=14)
    services.stock_move(
        product_id=world.plain.pk,
        qty=4,
        from_location_id=world.shelf_a.pk,
        from_state=S.AVAILABLE,
        to_location_id=world.shelf_b.pk,
        to_state=S.REFURBISH,
        idempotency_key="to-refurb",
    )
    assert ats(world.plain, world.outlet) == 14
    rule = ChannelRule.objects.get(channel=world.outlet)

    # when an administrator takes refurbished stock off the outlet
    response = admin.post(
        reverse("admin:inventory_channelrule_change", args=[rule.pk]),
        {
            "sellable_states": json.dumps([S.AVAILABLE]),
            "sellable_grades": json.dumps(["A", "B"]),
            "warehouses": [world.shelf_a.warehouse_id],
        },
    )

    # then the outlet's ATS drops to 10 at once, with its push and a history row
    assert response.status_code == 302
    assert ats(world.plain, world.outlet) == 10
    assert pushed(world, world.outlet)[-1] == 10
    rule.refresh_from_db()
    assert rule.sellable_grades == ["A", "B"]
    assert rule.history.latest().history_user == administrator_user

    # when the rule is deleted, the outlet sells available stock from every warehouse
    admin.post(reverse("admin:inventory_channelrule_delete", args=[rule.pk]), {"post": "yes"})
    assert not ChannelRule.objects.filter(channel=world.outlet).exists()
    assert ats(world.plain, world.outlet) == 10


def test_adding_a_rule_in_the_admin_recomputes_the_new_channel(admin, world):
    receive_plain(world)
    response = admin.post(
        reverse("admin:inventory_channelrule_add"),
        {
            "channel": world.storefront.pk,
            "sellable_states": json.dumps([S.REFURBISH]),
            "sellable_grades": json.dumps(["A"]),
        },
    )
    assert response.status_code == 302
    assert ats(world.plain, world.storefront) == 0
    assert pushed(world, world.storefront) == [10, 0]


@pytest.mark.parametrize(
    ("states", "grades", "field", "message"),
    [
        ([S.AVAILABLE], ["A", "Q"], "sellable_grades", "A list of grades among"),
        ([S.QUARANTINED], ["A"], "sellable_states", "No channel may sell stock that is"),
    ],
)
def test_a_bad_rule_in_the_admin_is_refused_and_nothing_changes(
    admin, world, states, grades, field, message
):
    receive_plain(world)
    rule = ChannelRule.objects.get(channel=world.outlet)
    before, history = ledger_counts(), rule.history.count()
    response = admin.post(
        reverse("admin:inventory_channelrule_change", args=[rule.pk]),
        {"sellable_states": json.dumps(states), "sellable_grades": json.dumps(grades)},
    )
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    rule.refresh_from_db()
    assert (rule.sellable_states, rule.sellable_grades) == ([S.AVAILABLE, S.REFURBISH], ["A"])
    assert ledger_counts() == before
    assert rule.history.count() == history
