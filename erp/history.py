"""Saving a change with who made it and why, for django-simple-history.

The history table keeps the reason in a 100-character column. A longer reason (a channel's
decline note, an override's explanation) is clipped there with an ellipsis; the full text
stays on the record itself (`outcome_reason`, `override_reason`, a note).

`create_with_history` inserts a new record and its history row in one statement, for the hot
paths (a receipt, an inspection).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models
from django.utils import timezone

from erp.sql import insert_of

REASON_LENGTH = 100


def history_reason(why: str) -> str:
    return why if len(why) <= REASON_LENGTH else why[: REASON_LENGTH - 1] + "…"


def save_with_history(obj: models.Model, *, actor: AbstractBaseUser | None, why: str) -> None:
    obj._history_user = actor
    obj._change_reason = history_reason(why)
    obj.save()


# The columns of a history row that are not a copy of the record's (history_id is a serial).
_HISTORY_OWN = {
    "history_id",
    "history_date",
    "history_type",
    "history_user",
    "history_change_reason",
}


def create_with_history(obj: models.Model, *, actor: AbstractBaseUser | None, why: str) -> None:
    """Insert the new `obj` and its "+" history row (who, why) in one statement on PostgreSQL
    — the history row copies the row as inserted: `WITH new AS (INSERT … RETURNING *)
    INSERT INTO <history> SELECT … FROM new` — where `save_with_history` takes two.

    Other databases, and a model whose history this cannot copy plainly (m2m or extra
    history fields, database defaults, a parent model), save through `save_with_history`.
    The one statement sends no save signals: simple-history's own receiver is the only one
    this project has, and the statement writes its row."""
    history = type(obj).history.model
    tracked = {field.attname for field in history.tracked_fields}
    copies_plainly = (
        connection.vendor == "postgresql"
        and not getattr(history, "_history_m2m_fields", None)
        and all(
            field.name in _HISTORY_OWN or field.attname in tracked
            for field in history._meta.concrete_fields
        )
    )
    insert = insert_of(obj) if copies_plainly else None
    if insert is None:
        save_with_history(obj, actor=actor, why=why)
        return
    quote = connection.ops.quote_name
    copied = [field for field in obj._meta.local_concrete_fields if field.attname in tracked]
    own = ["history_date", "history_type", "history_user", "history_change_reason"]
    columns = [history._meta.get_field(field.name).column for field in copied]
    columns += [history._meta.get_field(name).column for name in own]
    sql = (
        f"WITH new AS (INSERT INTO {insert.table} ({', '.join(insert.columns)}) "
        f"VALUES ({insert.placeholders}) RETURNING *) "
        f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join('new.' + quote(field.column) for field in copied)}, "
        f"%s, %s, %s, %s FROM new "
        f"RETURNING {quote(history._meta.get_field(obj._meta.pk.name).column)}"
    )
    params = [
        *insert.params,
        getattr(obj, "_history_date", None) or timezone.now(),
        "+",
        actor.pk if actor is not None else None,
        history_reason(why),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (obj.pk,) = cursor.fetchone()
    obj._state.adding = False
    obj._state.db = connection.alias
