"""Each stock service: its effects on movements, balances, units, ATS and the outbox."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_fsm import TransitionNotAllowed

from erp.models import OutboxMessage, ShippedItem
from inventory import services
from inventory.models import (
    OUTSIDE,
    CauseType,
    InventoryUnit,
    MovementKind,
    SafetyStock,
    StockMovement,
)
from inventory.models import StockState as S
from tests.factories import LocationFactory, UserFactory, WarehouseFactory
from tests.inventory.conftest import ats, balance, ledger_counts


def receive(world, qty=10, key="receipt-1", **kwargs):
    defaults = {"product_id": world.plain.pk, "location_id": world.shelf_a.pk}
    return services.stock_receive(qty=qty, idempotency_key=key, **(defaults | kwargs))


def test_receive_posts_a_movement_from_outside_and_raises_balance_and_ats(world):
    # given an empty warehouse
    # when ten units arrive from a supplier
    [movement] = receive(world, qty=10, cause_id="PO-7")

    # then one movement from outside, the shelf holds 10, both channels can sell them
    assert (movement.from_location_id, movement.from_state) == (None, None)
    assert (movement.to_location, movement.to_state) == (world.shelf_a, S.AVAILABLE)
    assert (movement.kind, movement.cause_type, movement.cause_id) == (
        MovementKind.RECEIVE,
        CauseType.RECEIPT,
        "PO-7",
    )
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 10
    assert ats(world.plain, world.storefront) == 10
    assert ats(world.plain, world.outlet) == 10
    pushes = OutboxMessage.objects.filter(topic="availability.changed")
    assert sorted(m.payload["ats"] for m in pushes) == [10, 10]
    assert {m.payload["version"] for m in pushes} == {1}


def test_stock_pending_inspection_is_on_hand_but_not_available_to_sell(world):
    # when a return is received onto the dock
    receive(world, qty=4, to_state=S.RECEIVED_PENDING_INSPECTION, cause_type=CauseType.RETURN_CASE)

    # then it is counted where it is, and no channel may sell it, so nothing is pushed
    assert balance(world.plain, world.shelf_a, S.RECEIVED_PENDING_INSPECTION) == 4
    assert ats(world.plain, world.storefront) == 0
    assert ats(world.plain, world.outlet) == 0
    assert not OutboxMessage.objects.exists()


def test_move_changes_both_balances_and_channel_rules_decide_what_sells(world):
    # given 10 available
    receive(world, qty=10)

    # when 3 go to refurbishment
    [movement] = services.stock_move(
        product_id=world.plain.pk,
        qty=3,
        from_location_id=world.shelf_a.pk,
        from_state=S.AVAILABLE,
        to_location_id=world.shelf_b.pk,
        to_state=S.REFURBISH,
        cause_type=CauseType.DISPOSITION,
        cause_id="D-1",
        idempotency_key="move-1",
    )

    # then 7 + 3, and only the outlet (whose rule sells refurbished stock) still counts 10
    assert movement.kind == MovementKind.MOVE
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 7
    assert balance(world.plain, world.shelf_b, S.REFURBISH) == 3
    assert ats(world.plain, world.storefront) == 7
    assert ats(world.plain, world.outlet) == 10


def test_reserve_and_release_take_stock_out_of_ats_and_back(world):
    receive(world, qty=10)
    SafetyStock.objects.create(channel=world.storefront, product=world.plain, qty=2)
    services.availability_recompute(product_ids=[world.plain.pk])
    assert ats(world.plain, world.storefront) == 8

    services.stock_reserve(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=4, idempotency_key="res-1"
    )
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 6
    assert balance(world.plain, world.shelf_a, S.RESERVED) == 4
    assert ats(world.plain, world.storefront) == 4  # 6 available - 2 safety stock

    services.stock_release(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=4, idempotency_key="rel-1"
    )
    assert balance(world.plain, world.shelf_a, S.RESERVED) == 0
    assert ats(world.plain, world.storefront) == 8
    kinds = list(StockMovement.objects.values_list("kind", flat=True))
    assert kinds == [MovementKind.RECEIVE, MovementKind.RESERVE, MovementKind.RELEASE]


def test_safety_stock_never_makes_ats_negative(world):
    receive(world, qty=1)
    SafetyStock.objects.create(channel=world.storefront, product=world.plain, qty=5)
    services.availability_recompute(product_ids=[world.plain.pk])
    assert ats(world.plain, world.storefront) == 0


def test_ship_sends_serials_to_the_customer_and_records_them_on_the_order_line(world):
    # given two serialized units reserved for an order line of 2
    receive(world, qty=2, product_id=world.serialized.pk, serials=["SN1", "SN2"])
    services.stock_reserve(
        product_id=world.serialized.pk,
        location_id=world.shelf_a.pk,
        qty=2,
        serials=["SN1", "SN2"],
        idempotency_key="res-1",
    )
    line = world.order_line(world.serialized, 2)

    # when they ship
    movements = services.stock_ship(
        order_line_id=line.pk,
        location_id=world.shelf_a.pk,
        qty=2,
        serials=["SN1", "SN2"],
        idempotency_key="ship-1",
    )

    # then each left to outside for this line, the units are outside, the line knows them
    assert [m.idempotency_key for m in movements] == ["ship-1", "ship-1#1"]
    assert all(m.to_location_id is None and m.cause_id == str(line.pk) for m in movements)
    assert balance(world.serialized, world.shelf_a, S.RESERVED) == 0
    assert set(InventoryUnit.objects.values_list("serial", "state", "location")) == {
        ("SN1", OUTSIDE, None),
        ("SN2", OUTSIDE, None),
    }
    assert set(line.shipped_items.values_list("serial_number", flat=True)) == {"SN1", "SN2"}


def test_ship_records_the_lot_and_refuses_more_than_the_line_ordered(world):
    receive(world, qty=10, product_id=world.lotted.pk, lot="L-42")
    line = world.order_line(world.lotted, 3)
    services.stock_ship(
        order_line_id=line.pk,
        location_id=world.shelf_a.pk,
        qty=3,
        from_state=S.AVAILABLE,
        lot="L-42",
        idempotency_key="ship-1",
    )
    assert list(line.shipped_items.values_list("lot_number", "quantity")) == [("L-42", 3)]
    before = ledger_counts()

    with pytest.raises(ValidationError, match="ordered 3; 3 already shipped"):
        services.stock_ship(
            order_line_id=line.pk,
            location_id=world.shelf_a.pk,
            qty=1,
            from_state=S.AVAILABLE,
            lot="L-42",
            idempotency_key="ship-2",
        )
    assert ledger_counts() == before


def test_a_returned_serial_comes_back_through_inspection_only(world):
    receive(world, qty=1, product_id=world.serialized.pk, serials=["SN1"])
    line = world.order_line(world.serialized, 1)
    services.stock_ship(
        order_line_id=line.pk,
        location_id=world.shelf_a.pk,
        qty=1,
        from_state=S.AVAILABLE,
        serials=["SN1"],
        idempotency_key="ship-1",
    )
    before = ledger_counts()

    # a shipped unit cannot be put straight back on sale
    with pytest.raises(ValidationError, match="comes back into stock as a return"):
        receive(world, qty=1, product_id=world.serialized.pk, serials=["SN1"], key="back-1")
    assert ledger_counts() == before

    # it is received pending inspection, then inspected back to available
    receive(
        world,
        qty=1,
        product_id=world.serialized.pk,
        serials=["SN1"],
        to_state=S.RECEIVED_PENDING_INSPECTION,
        cause_type=CauseType.RETURN_CASE,
        key="back-2",
    )
    services.unit_transition(
        product_id=world.serialized.pk,
        serial="SN1",
        to_state=S.AVAILABLE,
        cause_type=CauseType.INSPECTION,
        idempotency_key="inspect-1",
    )
    unit = InventoryUnit.objects.get(serial="SN1")
    assert (unit.state, unit.location) == (S.AVAILABLE, world.shelf_a)
    assert list(unit.movements.values_list("kind", flat=True)) == [
        MovementKind.RECEIVE,
        MovementKind.SHIP,
        MovementKind.RECEIVE,
        MovementKind.UNIT_TRANSITION,
    ]
    assert unit.history.count() == 4
    assert ats(world.serialized, world.storefront) == 1


def test_unit_transition_follows_the_canonical_flow_and_records_history(world):
    receive(
        world,
        qty=1,
        product_id=world.serialized.pk,
        serials=["SN1"],
        to_state=S.RECEIVED_PENDING_INSPECTION,
    )

    movement = services.unit_transition(
        product_id=world.serialized.pk,
        serial="SN1",
        to_state=S.QUARANTINED,
        to_location_id=world.cage.pk,
        cause_type=CauseType.INSPECTION,
        reason="high value, verify serial",
        idempotency_key="inspect-1",
    )

    unit = InventoryUnit.objects.get(serial="SN1")
    assert (unit.state, unit.location) == (S.QUARANTINED, world.cage)
    assert (movement.qty, movement.unit, movement.from_state, movement.to_state) == (
        1,
        unit,
        S.RECEIVED_PENDING_INSPECTION,
        S.QUARANTINED,
    )
    assert unit.history.first().history_change_reason == "high value, verify serial"
    assert balance(world.serialized, world.cage, S.QUARANTINED) == 1
    assert ats(world.serialized, world.outlet) == 0
    before = ledger_counts()

    # disposed is terminal: nothing leaves it
    services.unit_transition(
        product_id=world.serialized.pk,
        serial="SN1",
        to_state=S.DISPOSED,
        cause_type=CauseType.DISPOSITION,
        idempotency_key="dispose-1",
    )
    with pytest.raises(ValidationError, match="cannot go from disposed to available"):
        services.unit_transition(
            product_id=world.serialized.pk,
            serial="SN1",
            to_state=S.AVAILABLE,
            cause_type=CauseType.DISPOSITION,
            idempotency_key="undispose-1",
        )
    assert ledger_counts()["movements"] == before["movements"] + 1


def test_the_unit_state_field_cannot_be_written_directly(world):
    receive(world, qty=1, product_id=world.serialized.pk, serials=["SN1"])
    unit = InventoryUnit.objects.get(serial="SN1")
    with pytest.raises(AttributeError):
        unit.state = S.DISPOSED
    with pytest.raises(TransitionNotAllowed):
        unit.to_vendor_returned()


def test_releasing_quarantine_needs_the_permission_and_a_reason(world, stock_manager):
    receive(world, qty=2, to_state=S.RECEIVED_PENDING_INSPECTION)
    services.stock_move(
        product_id=world.plain.pk,
        qty=2,
        from_location_id=world.shelf_a.pk,
        from_state=S.RECEIVED_PENDING_INSPECTION,
        to_location_id=world.cage.pk,
        to_state=S.QUARANTINED,
        idempotency_key="q-1",
    )
    release = {
        "product_id": world.plain.pk,
        "qty": 2,
        "from_location_id": world.cage.pk,
        "from_state": S.QUARANTINED,
        "to_location_id": world.shelf_a.pk,
        "to_state": S.AVAILABLE,
    }
    before = ledger_counts()

    with pytest.raises(PermissionDenied):
        services.stock_move(**release, actor=UserFactory(), reason="ok", idempotency_key="r-1")
    with pytest.raises(ValidationError, match="needs a reason"):
        services.stock_move(**release, actor=stock_manager, idempotency_key="r-2")
    assert ledger_counts() == before

    services.stock_move(
        **release, actor=stock_manager, reason="serial verified", idempotency_key="r-3"
    )
    assert ats(world.plain, world.storefront) == 2


def test_adjust_needs_the_permission_and_a_reason(world, stock_manager):
    receive(world, qty=5)
    before = ledger_counts()
    adjust = {
        "product_id": world.plain.pk,
        "location_id": world.shelf_a.pk,
        "state": S.AVAILABLE,
        "qty_delta": -2,
        "idempotency_key": "count-1",
    }

    with pytest.raises(PermissionDenied):
        services.stock_adjust(**adjust, reason="cycle count", actor=UserFactory())
    with pytest.raises(PermissionDenied):
        services.stock_adjust(**adjust, reason="cycle count", actor=None)
    with pytest.raises(ValidationError, match="needs a reason"):
        services.stock_adjust(**adjust, reason="  ", actor=stock_manager)
    assert ledger_counts() == before

    [movement] = services.stock_adjust(**adjust, reason="cycle count", actor=stock_manager)
    assert (movement.kind, movement.to_location_id, movement.qty) == (MovementKind.ADJUST, None, 2)
    assert (movement.actor, movement.reason) == (stock_manager, "cycle count")
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 3

    services.stock_adjust(
        **(adjust | {"qty_delta": 4, "state": S.DAMAGED, "idempotency_key": "count-2"}),
        reason="found in aisle",
        actor=stock_manager,
    )
    assert balance(world.plain, world.shelf_a, S.DAMAGED) == 4


def test_the_same_key_and_payload_returns_the_first_movements(world):
    first = receive(world, qty=2, product_id=world.serialized.pk, serials=["SN1", "SN2"])
    after_first = ledger_counts()

    again = receive(world, qty=2, product_id=world.serialized.pk, serials=["SN1", "SN2"])

    assert [m.pk for m in again] == [m.pk for m in first]
    assert ledger_counts() == after_first


def test_a_different_payload_under_a_used_key_is_refused(world):
    receive(world, qty=2)
    before = ledger_counts()

    with pytest.raises(ValidationError, match="already used for a different request"):
        receive(world, qty=3)
    with pytest.raises(ValidationError, match="already used for a different request"):
        services.stock_reserve(
            product_id=world.plain.pk,
            location_id=world.shelf_a.pk,
            qty=2,
            idempotency_key="receipt-1",
        )
    assert ledger_counts() == before


BAD_INPUT = [
    pytest.param(lambda w: {"qty": 0}, "at least 1", id="zero-qty"),
    pytest.param(lambda w: {"qty": -3}, "at least 1", id="negative-qty"),
    pytest.param(lambda w: {"product_id": 999_999}, "Unknown SKU", id="unknown-sku"),
    pytest.param(lambda w: {"to_location_id": 999_999}, "Unknown location", id="unknown-location"),
    pytest.param(
        lambda w: {"serials": ["S"], "qty": 1}, "not serial-tracked", id="serial-on-plain"
    ),
    pytest.param(lambda w: {"lot": "L1"}, "not lot-tracked", id="lot-on-plain"),
    pytest.param(lambda w: {"qty": 11}, "holds 10 available PLAIN, 11 needed", id="too-little"),
    pytest.param(lambda w: {"from_state": S.RESERVED}, "holds 0 reserved", id="empty-state"),
    pytest.param(lambda w: {"to_state": "sold"}, "Unknown stock state", id="unknown-state"),
    pytest.param(
        lambda w: {"to_state": S.IN_TRANSIT_RETURN}, "cannot go from available", id="backwards"
    ),
    pytest.param(lambda w: {"to_location_id": w.shelf_a.pk}, "already there", id="same-place"),
    pytest.param(lambda w: {"idempotency_key": ""}, "idempotency key", id="no-key"),
    pytest.param(
        lambda w: {"to_location_id": LocationFactory(is_active=False).pk},
        "inactive: stock cannot go there",
        id="inactive-location",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUT)
def test_bad_moves_are_refused_with_a_specific_error_and_write_nothing(world, change, message):
    receive(world, qty=10)
    before = ledger_counts()
    move = {
        "product_id": world.plain.pk,
        "qty": 5,
        "from_location_id": world.shelf_a.pk,
        "from_state": S.AVAILABLE,
        "to_location_id": world.shelf_b.pk,
        "to_state": S.AVAILABLE,
        "idempotency_key": "bad-1",
    }

    with pytest.raises(ValidationError, match=message):
        services.stock_move(**(move | change(world)))

    assert ledger_counts() == before


def test_serial_tracked_stock_needs_its_serials(world):
    receive(world, qty=1, product_id=world.serialized.pk, serials=["SN1"])
    before = ledger_counts()

    with pytest.raises(ValidationError, match="serial-tracked: give the serial"):
        services.stock_move(
            product_id=world.serialized.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_b.pk,
            to_state=S.AVAILABLE,
            idempotency_key="m-1",
        )
    with pytest.raises(ValidationError, match="Give 2 different serial"):
        receive(world, qty=2, product_id=world.serialized.pk, serials=["SN2"], key="r-2")
    with pytest.raises(ValidationError, match="SN1 is available at main/A-01, not"):
        services.stock_move(
            product_id=world.serialized.pk,
            qty=1,
            serials=["SN1"],
            from_location_id=world.shelf_b.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_a.pk,
            to_state=S.DAMAGED,
            idempotency_key="m-2",
        )
    with pytest.raises(ValidationError, match="lot-tracked: give the lot"):
        receive(world, qty=1, product_id=world.lotted.pk, key="r-3")
    assert ledger_counts() == before


def test_batch_posts_many_movements_in_order_and_replays_by_key(world):
    lines = [
        services.BatchLine(
            idempotency_key=f"import-{i}",
            product_id=world.plain.pk,
            qty=2,
            to_location_id=world.shelf_a.pk,
            to_state=S.AVAILABLE,
        )
        for i in range(50)
    ] + [
        services.BatchLine(
            idempotency_key="import-move",
            product_id=world.plain.pk,
            qty=100,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_b.pk,
            to_state=S.AVAILABLE,
        )
    ]

    result = services.stock_post_batch(lines=lines)

    assert result == services.BatchResult(posted=51, replayed=0)
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 0
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 100
    assert ats(world.plain, world.storefront) == 100
    after = ledger_counts()

    assert services.stock_post_batch(lines=lines) == services.BatchResult(posted=0, replayed=51)
    assert ledger_counts() == after


def test_batch_fails_whole_when_a_line_would_go_negative_at_its_turn(world):
    # the move comes before the receipt that would cover it: refused, though the net is fine
    lines = [
        services.BatchLine(
            idempotency_key="import-move",
            product_id=world.plain.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_b.pk,
            to_state=S.AVAILABLE,
        ),
        services.BatchLine(
            idempotency_key="import-in",
            product_id=world.plain.pk,
            qty=5,
            to_location_id=world.shelf_a.pk,
            to_state=S.AVAILABLE,
        ),
    ]
    with pytest.raises(ValidationError, match="Line 1: Not enough stock"):
        services.stock_post_batch(lines=lines)
    assert ledger_counts()["movements"] == 0


def test_batch_refuses_the_line_that_empties_a_held_balance_past_zero(world):
    # the shelf holds 2: the first two moves of one pass, the third would take it to -1
    receive(world, qty=2)
    lines = [
        services.BatchLine(
            idempotency_key=f"import-move-{i}",
            product_id=world.plain.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_b.pk,
            to_state=S.AVAILABLE,
        )
        for i in range(3)
    ]
    before = ledger_counts()

    with pytest.raises(ValidationError, match=r"Line 3: Not enough stock: .* holds 0 .*1 needed"):
        services.stock_post_batch(lines=lines)

    assert ledger_counts() == before
    # and without the third line the other two post, leaving the shelf empty
    assert services.stock_post_batch(lines=lines[:2]).posted == 2
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 0
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"qty": 0}, "Line 2: Quantity must be"),
        ({"product_id": 999_999}, "Line 2: Unknown SKU"),
        ({"to_location_id": 999_999}, "Line 2: Unknown location"),
        ({"to_state": S.QUARANTINED}, "Line 2: Stock cannot enter as quarantined"),
        ({"serialized": True}, "Line 2: SERIAL is serial-tracked"),
        ({"idempotency_key": "import-0", "qty": 9}, "appears twice"),
    ],
)
def test_batch_refuses_bad_lines_and_writes_nothing(world, change, message):
    good = services.BatchLine(
        idempotency_key="import-0",
        product_id=world.plain.pk,
        qty=1,
        to_location_id=world.shelf_a.pk,
        to_state=S.AVAILABLE,
    )
    if change.pop("serialized", False):
        change["product_id"] = world.serialized.pk
    bad = services.BatchLine(**({**good.__dict__, "idempotency_key": "import-1"} | change))

    with pytest.raises(ValidationError, match=message):
        services.stock_post_batch(lines=[good, bad])

    assert ledger_counts()["movements"] == 0
    assert ledger_counts()["balance_total"] == 0


def test_batch_key_reused_with_a_different_line_is_refused(world):
    receive(world, qty=1, key="import-0")
    line = services.BatchLine(
        idempotency_key="import-0",
        product_id=world.plain.pk,
        qty=1,
        to_location_id=world.shelf_a.pk,
        to_state=S.AVAILABLE,
    )
    before = ledger_counts()
    with pytest.raises(ValidationError, match="already used for a different movement"):
        services.stock_post_batch(lines=[line])
    assert ledger_counts() == before


def test_an_availability_change_is_queued_once_per_version(world):
    receive(world, qty=3)
    receive(world, qty=2, key="receipt-2")
    versions = sorted(
        OutboxMessage.objects.filter(payload__channel_id=world.storefront.pk).values_list(
            "payload__version", "payload__ats"
        )
    )
    assert versions == [(1, 3), (2, 5)]
    assert ShippedItem.objects.count() == 0


def test_a_channel_sells_only_from_the_warehouses_its_rule_names(world):
    # given the outlet sells from the main warehouse only, and a 3PL warehouse holds stock too
    elsewhere = LocationFactory(warehouse=WarehouseFactory(code="3pl"), code="X-01")
    receive(world, qty=4)
    receive(world, qty=6, location_id=elsewhere.pk, key="receipt-3pl")

    # then the storefront (no rule: every warehouse) counts both, the outlet only main
    assert ats(world.plain, world.storefront) == 10
    assert ats(world.plain, world.outlet) == 4


def test_a_channel_rule_cannot_make_unsellable_states_sellable(world):
    rule = world.outlet.stock_rule
    rule.sellable_states = [S.AVAILABLE, S.QUARANTINED]
    with pytest.raises(ValidationError, match="No channel may sell stock that is"):
        rule.full_clean()

    # and even a rule saved around the validation never counts them
    rule.save()
    receive(world, qty=3, to_state=S.RECEIVED_PENDING_INSPECTION)
    services.stock_move(
        product_id=world.plain.pk,
        qty=3,
        from_location_id=world.shelf_a.pk,
        from_state=S.RECEIVED_PENDING_INSPECTION,
        to_location_id=world.cage.pk,
        to_state=S.QUARANTINED,
        idempotency_key="q-1",
    )
    assert ats(world.plain, world.outlet) == 0


def test_a_receipt_only_batch_adds_each_key_total_to_held_and_new_balances(world):
    receive(world, qty=4)  # shelf A holds 4 already; shelf B nothing
    lines = [
        services.BatchLine(
            idempotency_key=f"import-{i}",
            product_id=world.plain.pk,
            qty=i + 1,
            to_location_id=(world.shelf_a if i % 2 else world.shelf_b).pk,
            to_state=S.AVAILABLE,
        )
        for i in range(6)
    ]

    assert services.stock_post_batch(lines=lines) == services.BatchResult(posted=6, replayed=0)

    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 4 + 2 + 4 + 6
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 1 + 3 + 5
    assert ats(world.plain, world.storefront) == 25
    assert list(
        StockMovement.objects.filter(idempotency_key__startswith="import-")
        .order_by("id")
        .values_list("idempotency_key", flat=True)
    ) == [f"import-{i}" for i in range(6)]
    after = ledger_counts()
    assert services.stock_post_batch(lines=lines) == services.BatchResult(posted=0, replayed=6)
    assert ledger_counts() == after
