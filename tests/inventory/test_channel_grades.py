"""Grades in channel rules: a graded serialized unit counts in a channel's ATS only where the
channel's rule sells its grade (the outlet sells grade B, the storefront does not)."""

import pytest
from django.core.exceptions import ValidationError

from erp.models import OutboxMessage
from inventory import services
from inventory.models import ChannelAvailability, InventoryUnit, StockMovement
from inventory.models import StockState as S
from inventory.services.availability import _recompute_portable
from tests.factories import UserFactory
from tests.inventory.conftest import ats, ledger_counts

SERIALS = ["SN1", "SN2", "SN3"]


@pytest.fixture
def graded_world(world):
    """Three serialized units available; the outlet sells available and refurbished stock of
    grades A and B, the storefront has no rule (available, as new)."""
    services.stock_receive(
        product_id=world.serialized.pk,
        location_id=world.shelf_a.pk,
        qty=3,
        serials=SERIALS,
        idempotency_key="receipt-serials",
    )
    services.channel_rule_save(
        channel_id=world.outlet.pk,
        sellable_states=[S.AVAILABLE, S.REFURBISH],
        sellable_grades=["A", "B"],
        warehouse_ids=[world.shelf_a.warehouse_id],
        actor=None,
    )
    return world


def pushes(world, channel) -> list[int]:
    """The ATS figures queued for the serialized SKU on the channel, oldest first."""
    return [
        message.payload["ats"]
        for message in OutboxMessage.objects.filter(topic="availability.changed").order_by("id")
        if message.payload["channel_id"] == channel.pk
        and message.payload["product_id"] == world.serialized.pk
    ]


def test_a_grade_b_unit_sells_on_the_outlet_and_not_on_the_storefront(graded_world):
    world = graded_world
    inspector = UserFactory(username="inspector")
    assert (ats(world.serialized, world.storefront), ats(world.serialized, world.outlet)) == (3, 3)

    # when one unit is graded B (opened, like new)
    unit = services.unit_grade(
        product_id=world.serialized.pk,
        serial="SN1",
        grade="B",
        actor=inspector,
        reason="Inspected: grade B",
    )

    # then the storefront no longer counts it and is told so; the outlet still sells all three
    assert unit.grade == "B"
    assert ats(world.serialized, world.storefront) == 2
    assert ats(world.serialized, world.outlet) == 3
    assert pushes(world, world.storefront) == [3, 2]
    assert pushes(world, world.outlet) == [3]
    # and the grade is audited: who and why, with no movement (no stock changed place)
    last = InventoryUnit.history.filter(serial="SN1").latest("history_id")
    assert (last.grade, last.history_user, last.history_change_reason) == (
        "B",
        inspector,
        "Inspected: grade B",
    )
    assert StockMovement.objects.filter(product=world.serialized).count() == 3  # the receipt


def test_a_grade_the_outlet_does_not_sell_counts_nowhere(graded_world):
    world = graded_world
    services.unit_grade(product_id=world.serialized.pk, serial="SN2", grade="C", actor=None)
    assert ats(world.serialized, world.storefront) == 2
    assert ats(world.serialized, world.outlet) == 2


def test_a_graded_unit_moves_with_its_grade_between_states(graded_world):
    # given SN1 graded B, then sent to refurbishment (the storefront never sells that state)
    world = graded_world
    services.unit_grade(product_id=world.serialized.pk, serial="SN1", grade="B", actor=None)
    services.unit_transition(
        product_id=world.serialized.pk,
        serial="SN1",
        to_state=S.REFURBISH,
        cause_type="disposition",
        idempotency_key="refurb-SN1",
    )
    # then the storefront still counts the two ungraded ones, the outlet all three
    assert ats(world.serialized, world.storefront) == 2
    assert ats(world.serialized, world.outlet) == 3

    # when it comes back from refurbishment graded A, every channel may sell it again
    services.unit_grade(product_id=world.serialized.pk, serial="SN1", grade="A", actor=None)
    services.unit_transition(
        product_id=world.serialized.pk,
        serial="SN1",
        to_state=S.AVAILABLE,
        cause_type="disposition",
        idempotency_key="refurbished-SN1",
    )
    assert ats(world.serialized, world.storefront) == 3
    assert ats(world.serialized, world.outlet) == 3


def test_the_same_grade_again_writes_nothing(graded_world):
    world = graded_world
    services.unit_grade(product_id=world.serialized.pk, serial="SN1", grade="B", actor=None)
    before = ledger_counts()
    services.unit_grade(product_id=world.serialized.pk, serial="SN1", grade="B", actor=None)
    assert ledger_counts() == before


@pytest.mark.parametrize(
    ("serial", "grade", "code"),
    [
        ("SN1", "Z", "unknown_grade"),
        ("SN1", "", "unknown_grade"),
        ("NOPE", "B", "unknown_serial"),
    ],
)
def test_a_bad_grade_or_serial_is_refused_and_nothing_written(graded_world, serial, grade, code):
    world = graded_world
    before = ledger_counts()
    with pytest.raises(ValidationError) as refused:
        services.unit_grade(product_id=world.serialized.pk, serial=serial, grade=grade, actor=None)
    assert refused.value.code == code
    assert ledger_counts() == before
    assert set(InventoryUnit.objects.values_list("grade", flat=True)) == {""}


def test_a_unit_outside_our_stock_cannot_be_graded(graded_world, world):
    line = world.order_line(world.serialized, 1)
    services.stock_ship(
        order_line_id=line.pk,
        location_id=world.shelf_a.pk,
        qty=1,
        from_state=S.AVAILABLE,
        serials=["SN3"],
        idempotency_key="ship-SN3",
    )
    before = ledger_counts()
    with pytest.raises(ValidationError, match="not in our stock"):
        services.unit_grade(product_id=world.serialized.pk, serial="SN3", grade="B", actor=None)
    assert ledger_counts() == before


def test_the_portable_recompute_agrees_with_the_database_function(graded_world):
    # given grades written behind the services' back, so no ATS follows them yet
    world = graded_world
    InventoryUnit.objects.filter(serial="SN1").update(grade="B")
    InventoryUnit.objects.filter(serial="SN2").update(grade="D")

    # when the portable (SQLite) computation runs first, it finds both figures changed
    changed = _recompute_portable([world.serialized.pk])
    assert {(row.channel_id, row.ats) for row in changed} == {
        (world.storefront.pk, 1),
        (world.outlet.pk, 2),
    }
    # then the PostgreSQL function, on the same data, finds nothing left to change
    assert services.availability_recompute(product_ids=[world.serialized.pk]) == []
    figures = dict(
        ChannelAvailability.objects.filter(product=world.serialized).values_list(
            "channel_id", "ats"
        )
    )
    assert figures == {world.storefront.pk: 1, world.outlet.pk: 2}
