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
