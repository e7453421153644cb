"""The fast writer for high-volume demo rows (customers, orders, lines, shipped items).

On PostgreSQL rows stream in through COPY, with primary keys taken from the table's own
sequence first so that children can name their parents before anything is written. Elsewhere
(SQLite) it falls back to batched `bulk_create`. Neither path calls `save()`, sends signals or
writes django-simple-history rows: seeded rows have no history to record.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Model
from django.utils import timezone

SQLITE_BATCH = 2_000  # rows per INSERT; well under SQLite's bound-parameter limit


def bulk_insert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    """Insert `rows` (values in `columns` order, foreign keys as `<field>_id`) and return their
    primary keys, in the order of `rows`.

    `created_at`/`updated_at`, when the model has them, are set to now, as `save()` would.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _copy_insert(model, columns, rows)
    return _batched_insert(model, columns, rows)


def analyze(*models: type[Model]) -> None:
    """Refresh the planner's statistics after a bulk load, so the first screens that query the
    fresh rows get good plans without waiting for autovacuum."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _timestamp_columns(model: type[Model]) -> list[str]:
    names = {field.name for field in model._meta.concrete_fields}
    return [name for name in ("created_at", "updated_at") if name in names]


def _copy_insert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    meta = model._meta
    quote = connection.ops.quote_name
    stamps = _timestamp_columns(model)
    db_columns = [meta.pk.column, *(meta.get_field(name).column for name in columns), *stamps]
    now: tuple[datetime, ...] = (timezone.now(),) * len(stamps)
    with connection.cursor() as cursor:
        # Reserving the keys through nextval() keeps the sequence right for every later insert
        # and is safe even if another session inserts into the table meanwhile.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = sorted(pk for (pk,) in cursor.fetchall())
        statement = (
            f"COPY {quote(meta.db_table)} ({', '.join(quote(c) for c in db_columns)}) FROM STDIN"
        )
        # Django's cursor wraps a psycopg 3 cursor; COPY is only on the raw one.
        with cursor.cursor.copy(statement) as copy:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *row, *now))
    return ids


def _batched_insert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    model.objects.bulk_create(objects, batch_size=SQLITE_BATCH)
    return [obj.pk for obj in objects]
