"""Batch posting takes serial-tracked SKUs: their units are created or moved in the batch,
one movement per serial, with the same checks and all-or-nothing as the quantity lines."""

import re

import pytest
from django.core.exceptions import ValidationError

from inventory import services
from inventory.models import InventoryUnit, StockMovement
from inventory.models import StockState as S
from inventory.services import BatchLine
from tests.inventory.conftest import ats, balance, ledger_counts


def lines(world):
    """Receive two units and ten plain units, then move one unit to refurbishment."""
    return [
        BatchLine(
            "imp-1",
            world.serialized.pk,
            2,
            to_location_id=world.shelf_a.pk,
            to_state=S.AVAILABLE,
            serials=("SN-1", "SN-2"),
        ),
        BatchLine(
            "imp-2", world.plain.pk, 10, to_location_id=world.shelf_a.pk, to_state=S.AVAILABLE
        ),
        BatchLine(
            "imp-3",
            world.serialized.pk,
            1,
            world.shelf_a.pk,
            S.AVAILABLE,
            world.shelf_b.pk,
            S.REFURBISH,
            serials=("SN-2",),
        ),
    ]


def test_a_batch_creates_and_moves_units_and_posts_one_movement_per_serial(world):
    result = services.stock_post_batch(lines=lines(world))

    assert (result.posted, result.replayed) == (3, 0)
    units = {u.serial: (u.location_id, u.state) for u in InventoryUnit.objects.all()}
    assert units == {
        "SN-1": (world.shelf_a.pk, S.AVAILABLE),
        "SN-2": (world.shelf_b.pk, S.REFURBISH),
    }
    keyed = dict(
        StockMovement.objects.filter(product=world.serialized).values_list(
            "idempotency_key", "unit__serial"
        )
    )
    assert keyed == {"imp-1": "SN-1", "imp-1#1": "SN-2", "imp-3": "SN-2"}
    assert balance(world.serialized, world.shelf_a, S.AVAILABLE) == 1
    assert balance(world.serialized, world.shelf_b, S.REFURBISH) == 1
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 10
    # the outlet sells refurbished stock, the storefront does not
    assert (ats(world.serialized, world.storefront), ats(world.serialized, world.outlet)) == (1, 2)

    # and the same batch again posts nothing
    before = ledger_counts()
    again = services.stock_post_batch(lines=lines(world))
    assert (again.posted, again.replayed) == (0, 3)
    assert ledger_counts() == before


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            BatchLine("imp-4", 0, 2, to_location_id=0, to_state=S.AVAILABLE, serials=("SN-9",)),
            "Give 2 different serial(s)",
        ),
        (
            BatchLine("imp-4", 0, 1, 0, S.AVAILABLE, 0, S.REFURBISH, serials=("SN-NOWHERE",)),
            "has no unit with serial SN-NOWHERE",
        ),
    ],
)
def test_a_bad_unit_line_fails_the_whole_batch_and_writes_nothing(world, bad, message):
    bad = BatchLine(
        bad.idempotency_key,
        world.serialized.pk,
        bad.qty,
        world.shelf_a.pk if bad.from_state else None,
        bad.from_state,
        world.shelf_b.pk,
        bad.to_state,
        serials=bad.serials,
    )
    before = ledger_counts()
    with pytest.raises(ValidationError, match=f"Line 4: .*{re.escape(message)}"):
        services.stock_post_batch(lines=[*lines(world), bad])
    assert ledger_counts() == before


def test_a_serial_on_a_quantity_sku_is_refused(world):
    before = ledger_counts()
    with pytest.raises(ValidationError, match="is not serial-tracked"):
        services.stock_post_batch(
            lines=[
                BatchLine(
                    "imp-1",
                    world.plain.pk,
                    1,
                    to_location_id=world.shelf_a.pk,
                    to_state=S.AVAILABLE,
                    serials=("X",),
                )
            ]
        )
    assert ledger_counts() == before


def test_a_line_keyed_like_another_lines_unit_movement_is_refused_and_writes_nothing(world):
    # imp-1 posts its second unit under "imp-1#1": a quantity line may not take that key
    clashing = BatchLine(
        "imp-1#1", world.plain.pk, 1, to_location_id=world.shelf_a.pk, to_state=S.AVAILABLE
    )
    before = ledger_counts()

    with pytest.raises(ValidationError, match="Line 1: its unit movement key 'imp-1#1'") as error:
        services.stock_post_batch(lines=[*lines(world), clashing])

    assert error.value.code == "idempotency_key_reused"
    assert ledger_counts() == before


def test_a_unit_movement_key_already_in_the_ledger_is_refused_and_writes_nothing(world):
    # "imp-1#1" was posted on its own before; the batch's imp-1 would post its 2nd unit under it
    services.stock_post_batch(
        lines=[
            BatchLine(
                "imp-1#1", world.plain.pk, 1, to_location_id=world.shelf_a.pk, to_state=S.AVAILABLE
            )
        ]
    )
    before = ledger_counts()

    with pytest.raises(ValidationError, match="'imp-1#1' was already used") as error:
        services.stock_post_batch(lines=lines(world))

    assert error.value.code == "idempotency_key_reused"
    assert ledger_counts() == before
