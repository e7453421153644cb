"""The INSERT of a new model instance as SQL parts, for the statements that chain several
writes in one (`WITH new AS (INSERT …) INSERT …`): a record and its history row, an outbox
message and the row that notes it."""

from dataclasses import dataclass

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault


@dataclass(frozen=True)
class Insert:
    table: str  # quoted
    columns: list[str]  # quoted
    params: list

    @property
    def placeholders(self) -> str:
        return ", ".join(["%s"] * len(self.params))


def insert_of(obj: models.Model, *, leave_out: tuple[str, ...] = ()) -> Insert | None:
    """How to insert the new `obj` as `Model.save` would (each field's `pre_save`, so
    auto_now fields are set on `obj`), its serial primary key left to the database; the
    fields named in `leave_out` are left to the caller. None when a field would take a
    database default or the model has a parent: such a row is saved the ordinary way."""
    meta = obj._meta
    if meta.parents:
        return None
    fields = [
        field
        for field in meta.local_concrete_fields
        if not (field.primary_key and obj.pk is None)
        and not field.generated
        and field.name not in leave_out
    ]
    values = [field.pre_save(obj, True) for field in fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        return None
    quote = connection.ops.quote_name
    return Insert(
        table=quote(meta.db_table),
        columns=[quote(field.column) for field in fields],
        params=[
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, values, strict=True)
        ],
    )
