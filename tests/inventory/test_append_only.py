"""The database itself refuses to change or delete a ledger row, whoever asks."""

import pytest
from django.db import DatabaseError, connection, transaction

from inventory import services
from inventory.models import StockMovement
from inventory.models import StockState as S


@pytest.fixture
def movement(world):
    [movement] = services.stock_receive(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=5, idempotency_key="r-1"
    )
    return movement


def refused(action) -> None:
    with pytest.raises(DatabaseError, match="Cannot update or delete rows"), transaction.atomic():
        action()


def test_the_orm_cannot_update_or_delete_a_movement(movement):
    def save_changed():
        movement.qty = 500
        movement.save()

    refused(save_changed)
    refused(lambda: StockMovement.objects.filter(pk=movement.pk).update(reason="typo"))
    refused(movement.delete)
    refused(StockMovement.objects.all().delete)

    assert StockMovement.objects.get().qty == 5


def test_raw_sql_cannot_update_or_delete_a_movement(movement):
    def execute(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql, [movement.pk])

    refused(lambda: execute("UPDATE inventory_stockmovement SET qty = 1 WHERE id = %s"))
    refused(lambda: execute("DELETE FROM inventory_stockmovement WHERE id = %s"))

    assert StockMovement.objects.filter(pk=movement.pk, qty=5).exists()


def test_a_correction_is_a_new_reversing_movement(world, movement, stock_manager):
    # given 5 received where 3 arrived
    # when the receipt is corrected
    [correction] = services.stock_adjust(
        product_id=world.plain.pk,
        location_id=world.shelf_a.pk,
        state=S.AVAILABLE,
        qty_delta=-2,
        reason=f"receipt {movement.pk} over-counted",
        actor=stock_manager,
        idempotency_key="fix-1",
    )

    # then both rows stand, and the balance is their sum
    assert list(StockMovement.objects.values_list("pk", flat=True)) == [movement.pk, correction.pk]
    assert world.plain.stock_balances.get().qty == 3
