"""Stock reads cost the same number of queries whatever the ledger holds."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import selectors, services
from inventory.models import CauseType
from inventory.models import StockState as S


def post_history(world, n: int, start: int = 0) -> None:
    """n receipts and n moves of the plain SKU, and n round trips of one serial."""
    if not start:
        services.stock_receive(
            product_id=world.serialized.pk,
            location_id=world.shelf_a.pk,
            qty=1,
            serials=["SN1"],
            idempotency_key="unit-in",
        )
    for i in range(start, n):
        services.stock_receive(
            product_id=world.plain.pk,
            location_id=world.shelf_a.pk,
            qty=2,
            idempotency_key=f"in-{i}",
        )
        services.stock_move(
            product_id=world.plain.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=(world.shelf_b if i % 2 else world.cage).pk,
            to_state=S.AVAILABLE if i % 2 else S.QUARANTINED,
            idempotency_key=f"move-{i}",
        )
        for j, state in enumerate((S.DAMAGED, S.REFURBISH, S.AVAILABLE)):
            services.unit_transition(
                product_id=world.serialized.pk,
                serial="SN1",
                to_state=state,
                cause_type=CauseType.INSPECTION,
                idempotency_key=f"unit-{i}-{j}",
            )


def read_everything(world) -> dict:
    unit = selectors.unit_get(serial="SN1")
    return {
        "balances": [
            (b.location.warehouse.code, b.location.code, b.qty)
            for b in selectors.balance_list(product_id=world.plain.pk)
        ],
        "ats": [
            (a.channel.name, a.product.sku, a.ats)
            for a in selectors.availability_list(product_id=world.plain.pk)
        ],
        "movements": [
            (
                m.product.sku,
                m.from_location and m.from_location.warehouse.code,
                m.to_location and m.to_location.warehouse.code,
                m.actor,
                m.unit,
            )
            for m in selectors.movement_list(
                product_id=world.plain.pk, location_id=world.shelf_a.pk
            )
        ],
        "unit": [
            (m.kind, m.from_location, m.to_location and m.to_location.warehouse)
            for m in unit.movements.all()
        ],
    }


def queries_to_read(world) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as ctx:
        result = read_everything(world)
    return len(ctx.captured_queries), result


def test_stock_reads_do_not_grow_with_the_ledger(world):
    # given a short history, read once
    post_history(world, 2)
    small_count, small = queries_to_read(world)

    # when the ledger grows five-fold
    post_history(world, 10, start=2)
    large_count, large = queries_to_read(world)

    # then the same reads cost the same queries
    assert len(large["unit"]) > len(small["unit"])
    assert len(large["movements"]) > len(small["movements"])
    assert small_count == large_count == 5


def test_movement_filters(world):
    post_history(world, 2)
    into_cage = selectors.movement_list(location_id=world.cage.pk, state=S.QUARANTINED)
    assert [m.idempotency_key for m in into_cage] == ["move-0"]
    assert selectors.movement_list(cause_type=CauseType.INSPECTION).count() == 6
    unit = selectors.unit_get(serial="SN1", product_id=world.serialized.pk)
    assert selectors.movement_list(unit_id=unit.pk).count() == 7
