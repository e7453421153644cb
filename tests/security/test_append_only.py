"""Ledger, journal and history rows cannot be changed or removed, whatever the SQL: PostgreSQL
triggers refuse UPDATE and DELETE (pgtrigger on the stock ledger and the journal;
erp.security.history_protect on every django-simple-history table)."""

import pytest
from django.db import DatabaseError, connection, transaction

from erp.security import history_rewrite_allowed, history_tables, history_unprotected_tables
from tests.erp.test_role_matrix import page_url  # noqa: F401  (rows in every app's tables)

pytestmark = pytest.mark.django_db

FAMILIES = ("erp", "finance", "inventory", "warehouse", "returns")


def refused(sql: str) -> bool:
    """Whether PostgreSQL refuses `sql` (run in a savepoint that is rolled back either way)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
            # Not refused: undo it, and say so.
            raise _Allowed
    except _Allowed:
        return False
    except DatabaseError:
        return True


class _Allowed(Exception):
    pass


def tables_with_rows(tables) -> list[str]:
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        found = []
        for table in (table for table in tables if table in existing):
            cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")')
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_no_history_table_is_left_unprotected():
    tables = history_tables()
    # Every app that keeps history is covered, and each of its tables carries the trigger.
    assert {table.split("_")[0] for table in tables} >= set(FAMILIES)
    assert history_unprotected_tables() == []


def test_history_rows_refuse_update_and_delete_in_every_app(page_url):  # noqa: F811
    # Given history rows written across the apps (the role matrix's objects)
    filled = tables_with_rows(history_tables())
    assert {table.split("_")[0] for table in filled} >= set(FAMILIES)

    # When raw SQL tries to rewrite or remove them, then each table refuses both
    for table in filled:
        assert refused(f"UPDATE \"{table}\" SET history_change_reason = 'forged'"), table
        assert refused(f'DELETE FROM "{table}"'), table


def test_history_user_may_be_cleared_when_a_user_is_deleted(make_user):
    # Given a history row written by a user
    from tests.factories import ChannelFactory

    user = make_user(username="leaver")
    channel = ChannelFactory()
    channel._history_user = user
    channel.name = "Renamed"
    channel.save()

    # When that user is deleted, Django sets history_user to NULL on their rows (SET_NULL):
    # that one change is allowed, so the rows stay, unattributed...
    table = "erp_historicalchannel"
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" SET history_user_id = NULL WHERE history_user_id = %s', [user.pk]
        )
        assert cursor.rowcount == 1
    # ...but not together with any other change
    assert refused(f"UPDATE \"{table}\" SET history_user_id = NULL, name = 'forged'")


def test_the_demo_reset_may_lift_the_rule_for_its_own_transaction():
    from tests.factories import ChannelFactory

    channel = ChannelFactory()
    with transaction.atomic(), history_rewrite_allowed():
        channel.history.all().delete()
    assert not channel.history.exists()
    # ...and only for that transaction
    ChannelFactory(code="again")
    assert refused('DELETE FROM "erp_historicalchannel"')


def test_stock_ledger_and_journal_refuse_update_and_delete(page_url):  # noqa: F811
    # Given a stock movement and a posted journal entry (the role matrix's objects)
    ledger = ["inventory_stockmovement", "finance_journalentry", "finance_journalline"]
    assert tables_with_rows(ledger) == ledger

    # Then pgtrigger's protection refuses raw UPDATE and DELETE on each
    for table in ledger:
        assert refused(f'UPDATE "{table}" SET id = id'), table
        assert refused(f'DELETE FROM "{table}"'), table
