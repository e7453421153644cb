"""How PostgreSQL stores the tables every movement updates in place."""

import pytest
from django.db import connection

from inventory.models import ChannelAvailability, StockBalance


@pytest.mark.django_db
@pytest.mark.parametrize("model", [StockBalance, ChannelAvailability])
def test_balance_and_availability_pages_keep_room_for_updates_in_place(model):
    # A row's next version can stay on its page without new index entries (a HOT update)
    # only if the page has room: these tables leave 30% of each page free.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
        )
        (options,) = cursor.fetchone()
    assert "fillfactor=70" in (options or [])


@pytest.mark.django_db
def test_the_movement_key_and_its_unique_index_compare_bytes():
    # The key is an opaque token: equality is the same in any collation, and comparing bytes
    # instead of by the locale made each insert into its unique index cheaper (migration 0014).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = 'inventory_stockmovement'::regclass "
            "AND a.attname = 'idempotency_key'"
        )
        (column,) = cursor.fetchone()
        cursor.execute(
            "SELECT c.collname FROM pg_index i JOIN pg_collation c ON c.oid = i.indcollation[0] "
            "WHERE i.indexrelid = 'movement_idempotency_key'::regclass"
        )
        (index,) = cursor.fetchone()
    assert (column, index) == ("C", "C")
