"""Helpers the journal tests share."""

from django.db import connection


def check_deferred_constraints() -> None:
    """Run the commit-time checks now (a test's transaction never commits). When one fails,
    rolling back the enclosing savepoint also restores the deferred mode."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def entry_lines(entry) -> list[tuple]:
    """(purpose, debit, credit) of an entry's lines, in posting order."""
    return list(entry.lines.order_by("id").values_list("account__purpose", "debit", "credit"))
