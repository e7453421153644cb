"""The balances' references hold in the database itself (PostgreSQL triggers since migration
0013, not deferred foreign key constraints): a balance naming a missing product or location is
refused at its statement, not at commit, and so is deleting or re-keying a row a balance names."""

import pytest
from django.db import IntegrityError, connection, transaction

from erp.models import Location, Product
from inventory.models import StockBalance
from tests.factories import LocationFactory, ProductFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers under test are PostgreSQL's"
)

MISSING = 2_000_000_000

INSERT = "INSERT INTO inventory_stockbalance (product_id, location_id, state, lot, qty) VALUES "


def insert(*rows: tuple[int, int], upsert: bool = False) -> None:
    """Raw (product, location) balance rows, as a process with the app's role could write."""
    sql = INSERT + ", ".join(["(%s, %s, 'available', '', 1)"] * len(rows))
    if upsert:  # how the services write balances
        sql += (
            " ON CONFLICT (product_id, location_id, state, lot)"
            " DO UPDATE SET qty = inventory_stockbalance.qty + EXCLUDED.qty"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def execute(sql: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def refused(action, match: str) -> None:
    # Refused at the statement: a deferred constraint would let the savepoint be released.
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        action()


def test_a_balance_naming_a_missing_product_or_location_is_refused_at_its_statement(world):
    good = (world.plain.pk, world.shelf_a.pk)
    before = StockBalance.objects.count()

    refused(lambda: insert((MISSING, world.shelf_a.pk)), f"product {MISSING}")
    refused(lambda: insert((world.plain.pk, MISSING)), f"location {MISSING}")
    refused(lambda: insert((world.plain.pk, MISSING), upsert=True), f"location {MISSING}")
    # one bad row among good ones refuses the whole statement
    refused(
        lambda: insert(good, (world.lotted.pk, world.shelf_b.pk), (MISSING, world.shelf_b.pk)),
        f"product {MISSING}",
    )
    assert StockBalance.objects.count() == before

    # the same rows naming rows that exist are taken
    insert(good, upsert=True)
    insert(good, upsert=True)
    assert StockBalance.objects.get(product=world.plain, location=world.shelf_a).qty == 2


def test_a_balance_cannot_be_rekeyed_to_a_missing_row(world):
    insert((world.plain.pk, world.shelf_a.pk))
    row = StockBalance.objects.get()

    for column in ("product_id", "location_id"):
        refused(
            lambda c=column: execute(
                f"UPDATE inventory_stockbalance SET {c} = %s WHERE id = %s", MISSING, row.pk
            ),
            f"{column.removesuffix('_id')} {MISSING}",
        )
    # to rows that exist, and its quantity, it still changes
    execute(
        "UPDATE inventory_stockbalance SET location_id = %s, qty = 5 WHERE id = %s",
        world.shelf_b.pk,
        row.pk,
    )
    row.refresh_from_db()
    assert (row.location_id, row.qty) == (world.shelf_b.pk, 5)


def test_a_row_a_balance_names_cannot_be_deleted_or_rekeyed(world):
    # given a balance no movement names (the ledger's own guards do not apply)
    product = ProductFactory(sku="BALANCE-ONLY")
    location = LocationFactory(warehouse=world.shelf_a.warehouse, code="BAL-ONLY")
    insert((product.pk, location.pk))

    for table, pk in (("erp_product", product.pk), ("erp_location", location.pk)):
        refused(lambda t=table, pk=pk: execute(f"DELETE FROM {t} WHERE id = %s", pk), table)
        refused(
            lambda t=table, pk=pk: execute(f"UPDATE {t} SET id = id + {MISSING} WHERE id = %s", pk),
            table,
        )
    assert Product.objects.filter(pk=product.pk).exists()
    assert Location.objects.filter(pk=location.pk).exists()

    # other columns still change, and once the balance is gone the rows may go too
    execute("UPDATE erp_location SET name = 'Renamed' WHERE id = %s", location.pk)
    execute("DELETE FROM inventory_stockbalance WHERE product_id = %s", product.pk)
    execute("DELETE FROM erp_product WHERE id = %s", product.pk)
    execute("DELETE FROM erp_location WHERE id = %s", location.pk)
    assert not Product.objects.filter(pk=product.pk).exists()
    assert not Location.objects.filter(pk=location.pk).exists()
