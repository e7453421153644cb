"""Seeding benchmark databases fast: rows of a Django model streamed with PostgreSQL COPY.

The ORM's bulk_create builds a model instance per row and sends INSERT … RETURNING in
batches; at millions of rows that is most of a benchmark's set-up time. Here a benchmark gives
plain dicts (with explicit ids, so it can point foreign keys at rows it has not inserted yet);
every concrete column the dict leaves out takes the field's default, computed once per table.
Afterwards `identity_reset` moves each table's id sequence past the ids used.
"""

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone
from psycopg.types.json import Jsonb


def _columns(model: type[models.Model], given: Mapping[str, Any]) -> list[models.Field]:
    """The columns to write: every concrete one, except generated ones and those the
    database fills itself (db_default) when the rows do not give them."""
    return [
        field
        for field in model._meta.concrete_fields
        if not field.generated and (field.db_default is NOT_PROVIDED or field.attname in given)
    ]


def _default(field: models.Field) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    if field.empty_strings_allowed:
        return ""
    raise ValueError(f"{field.model.__name__}.{field.name} needs a value: it has no default.")


def copy_rows(model: type[models.Model], rows: Iterable[Mapping[str, Any]]) -> int:
    """COPY `rows` into `model`'s table; keys are field attnames (`channel_id`, not
    `channel`). Returns how many rows were written. Runs in the current transaction."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    fields = _columns(model, first)
    names = [field.attname for field in fields]
    json_fields = {field.attname for field in fields if isinstance(field, models.JSONField)}
    defaults: dict[str, Any] = {}
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in itertools.chain([first], rows):
            values = []
            for field, name in zip(fields, names, strict=True):
                if name in row:
                    value = row[name]
                else:
                    if name not in defaults:
                        defaults[name] = _default(field)
                    value = defaults[name]
                if name in json_fields and value is not None:
                    value = Jsonb(value)
                values.append(value)
            copy.write_row(values)
            count += 1
    return count


def identity_reset(*model_classes: type[models.Model]) -> None:
    """Move each table's id sequence past its largest id, so the ORM's next insert works."""
    with connection.cursor() as cursor:
        for model in model_classes:
            table = model._meta.db_table
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {connection.ops.quote_name(table)}), 0) + 1, "
                "false)",
                [table],
            )


def next_id(model: type[models.Model]) -> int:
    """The first id free in `model`'s table."""
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]
