"""Saving a change with who made it and why, for django-simple-history.

The history table keeps the reason in a 100-character column. A longer reason (a channel's
decline note, an override's explanation) is clipped there with an ellipsis; the full text
stays on the record itself (`outcome_reason`, `override_reason`, a note).

`create_with_history` inserts a new record and its history row in one statement, for the hot
paths (a receipt, an inspection).
"""

from collections.abc import Iterable
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, models, transaction
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone
from django_fsm import ConcurrentTransition, ConcurrentTransitionMixin, FSMFieldMixin

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


def create_with_history(
    obj: models.Model,
    *,
    actor: AbstractBaseUser | None,
    why: str,
    unless_taken: tuple[str, ...] = (),
) -> bool:
    """Insert the new `obj` and its "+" history row (who, why) in one statement on PostgreSQL
    — the history row copies the row as inserted: `WITH new AS (INSERT … RETURNING *)
    INSERT INTO <history> SELECT … FROM new` — where `save_with_history` takes two.

    `unless_taken`: the columns of a unique constraint; when another row holds the same
    values, nothing is inserted and it returns False (True when inserted) — without the
    savepoint a caught IntegrityError needs, so a caller drawing a random number can draw
    again in the same transaction.

    Other databases, and a model whose history this cannot copy plainly (m2m or extra
    history fields, database defaults, a parent model), save through `save_with_history`.
    The one statement sends no save signals: simple-history's own receiver is the only one
    this project has, and the statement writes its row."""
    history = _history_model(type(obj))
    insert = insert_of(obj) if _copies_plainly(history) else None
    if insert is None:
        if not unless_taken:
            save_with_history(obj, actor=actor, why=why)
            return True
        try:
            with transaction.atomic():
                save_with_history(obj, actor=actor, why=why)
        except IntegrityError:
            obj.pk = None
            return False
        return True
    sql = _create_statement(type(obj), tuple(insert.columns), unless_taken)
    row = _one_row(sql, [*insert.params, *_history_own(obj, "+", actor=actor, why=why)])
    if row is None:
        return False  # `unless_taken` held by another row
    (obj.pk,) = row
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


@cache
def _create_statement(
    model: type[models.Model], inserted: tuple[str, ...], unless_taken: tuple[str, ...]
) -> str:
    """`create_with_history`'s statement for `model` inserting the (quoted) columns
    `inserted`: the same text for every row that inserts them, built once."""
    meta = model._meta
    history = _history_model(model)
    quote = connection.ops.quote_name
    copied, columns = _history_columns(model, history)
    conflict = (
        f"ON CONFLICT ({', '.join(map(quote, unless_taken))}) DO NOTHING " if unless_taken else ""
    )
    return (
        f"WITH new AS (INSERT INTO {quote(meta.db_table)} ({', '.join(inserted)}) "
        f"VALUES ({', '.join(['%s'] * len(inserted))}) {conflict}RETURNING *) "
        f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join('new.' + quote(field.column) for field in copied)}, "
        f"%s, %s, %s, %s FROM new "
        f"RETURNING {quote(history._meta.get_field(meta.pk.name).column)}"
    )


def update_with_history(
    obj: models.Model,
    *,
    actor: AbstractBaseUser | None,
    why: str,
    fields: Iterable[str] | None = None,
) -> None:
    """Save the changed `obj` (every field, as `save()` does) and write its "~" history row
    (who, why) in one statement on PostgreSQL — `WITH changed AS (UPDATE … RETURNING *)
    INSERT INTO <history> SELECT … FROM changed` — where `save_with_history` takes two and
    builds both through the ORM.

    `fields`: the only fields that changed (`fields_changed`), as `save(update_fields=…)`
    takes them (auto_now fields are set too): the UPDATE sets those alone, and the history
    row still copies the whole row, as the UPDATE returns it. A transition changes two to
    five of a case's thirty-odd columns; each column set costs its conversion and quoting.

    A django-fsm `ConcurrentTransitionMixin` model is updated only while its state is still
    the one it was read in; otherwise it raises `ConcurrentTransition`, as `save()` does.
    Other databases and models whose history this cannot copy plainly go through
    `save_with_history`. No save signals are sent (see `create_with_history`)."""
    model = type(obj)
    meta = obj._meta
    if obj.pk is None or meta.parents or not _copies_plainly(_history_model(model)):
        save_with_history(obj, actor=actor, why=why)
        return
    sql, set_fields, state_fields = _update_statement(
        model, None if fields is None else frozenset(fields)
    )
    values = [field.pre_save(obj, False) for field in set_fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        save_with_history(obj, actor=actor, why=why)
        return
    params = [
        *(
            field.get_db_prep_save(value, connection)
            for field, value in zip(set_fields, values, strict=True)
        ),
        meta.pk.get_db_prep_value(obj.pk, connection),
    ]
    concurrent = isinstance(obj, ConcurrentTransitionMixin)
    if concurrent:
        initial = obj._ConcurrentTransitionMixin__initial_states
        params += [initial[field.attname] for field in state_fields]
    row = _one_row(sql, [*params, *_history_own(obj, "~", actor=actor, why=why)])
    if row is None:
        if concurrent:
            raise ConcurrentTransition(
                "Cannot save object! The state has been changed since fetched from the database!"
            )
        raise type(obj).DoesNotExist(f"{meta.label} {obj.pk} no longer exists.")
    if concurrent:
        obj._update_initial_state()


def field_values(obj: models.Model) -> dict[str, object]:
    """{attname: value} of `obj`'s own columns now, for `fields_changed` after a change."""
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.local_concrete_fields}


def fields_changed(obj: models.Model, before: dict[str, object]) -> list[str]:
    """The names of `obj`'s fields whose value is not the one in `before` (`field_values`):
    what a change that assigns fields (a transition) changed, for `update_with_history`.
    A value changed in place (a JSON dict mutated, not assigned) compares equal to itself
    and is not seen: code that does so saves every field (`fields=None`)."""
    return [
        field.name
        for field in obj._meta.local_concrete_fields
        if getattr(obj, field.attname) != before[field.attname]
    ]


@cache
def _update_statement(
    model: type[models.Model], names: frozenset[str] | None
) -> tuple[str, list[models.Field], list[models.Field]]:
    """`update_with_history`'s statement for `model` setting `names` (every field if None)
    with the fields it sets and the state fields it checks, in parameter order: the same
    text for every row of the model, built once (quoting thirty-odd names each time cost
    more than the row's values). Parameters: the values, the primary key, the initial states
    of a `ConcurrentTransitionMixin` model's state fields, then the history row's own."""
    meta = model._meta
    history = _history_model(model)
    quote = connection.ops.quote_name
    fields = [
        field
        for field in meta.local_concrete_fields
        if not field.primary_key
        and not field.generated
        and (names is None or field.name in names or getattr(field, "auto_now", False))
    ]
    states = []
    if issubclass(model, ConcurrentTransitionMixin):
        states = [field for field in meta.fields if isinstance(field, FSMFieldMixin)]
    # The row is found by its primary key; its state is only checked on it. `IS TRUE` keeps
    # the check out of the indexes: on `state = %s` the planner picked a state index whenever
    # the last ANALYZE saw few rows in that state (a drain moving 25,000 cases through
    # `in_transit`), then read every row version in that state, live or dead: 4.8 ms a move.
    where = [
        f"{quote(meta.pk.column)} = %s",
        *(f"({quote(field.column)} = %s) IS TRUE" for field in states),
    ]
    copied, columns = _history_columns(model, history)
    sql = (
        f"WITH changed AS (UPDATE {quote(meta.db_table)} SET "
        f"{', '.join(f'{quote(field.column)} = %s' for field in fields)} "
        f"WHERE {' AND '.join(where)} RETURNING *) "
        f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join('changed.' + quote(field.column) for field in copied)}, "
        f"%s, %s, %s, %s FROM changed "
        f"RETURNING {quote(history._meta.get_field(meta.pk.name).column)}"
    )
    return sql, fields, states


def _history_own(obj: models.Model, kind: str, *, actor, why: str) -> list:
    """The history row's own values, in `_history_columns` order: when, what, who, why."""
    return [
        getattr(obj, "_history_date", None) or timezone.now(),
        kind,
        actor.pk if actor is not None else None,
        history_reason(why),
    ]


def _one_row(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@cache
def _history_model(model: type[models.Model]) -> type[models.Model]:
    # `Model.history` builds a new manager class on every access (simple-history's
    # descriptor), about 0.4 ms of CPU: a third of a one-statement write.
    return model.history.model


@cache
def _copies_plainly(history) -> bool:
    """Whether a history row is a plain copy of the record's tracked columns plus who, when,
    what and why (no m2m or extra history fields): then one statement can write it."""
    tracked = {field.attname for field in history.tracked_fields}
    return (
        connection.vendor == "postgresql"
        and not getattr(history, "_history_m2m_fields", None)
        and all(
            field.name in _HISTORY_OWN or field.attname in tracked
            for field in history._meta.concrete_fields
        )
    )


@cache
def _history_columns(model: type[models.Model], history) -> tuple[list, list[str]]:
    """The record's fields its history copies, and the history's columns they and the
    history's own (when, what, who, why) go to, in that order."""
    tracked = {field.attname for field in history.tracked_fields}
    copied = [field for field in model._meta.local_concrete_fields if field.attname in tracked]
    own = ["history_date", "history_type", "history_user", "history_change_reason"]
    columns = [history._meta.get_field(field.name).column for field in copied]
    columns += [history._meta.get_field(name).column for name in own]
    return copied, columns
