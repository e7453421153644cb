"""The outbox's write side: queue a message in the caller's transaction."""

from django.db import connection

from erp.models import OutboxMessage

from .outbox_dispatch import outbox_dispatch_after_commit


def outbox_enqueue(
    *, topic: str, payload: dict, dedupe_key: str, ordering_key: str = ""
) -> OutboxMessage:
    """Queue `payload` under `topic`, at most once per `dedupe_key`; messages sharing an
    `ordering_key` (e.g. "availability:<channel>:<sku>") are delivered strictly in order.

    Effects: inserts an OutboxMessage in the current transaction, so it exists exactly when
    the change that caused it commits; a second call with the same key returns the first
    message unchanged. After commit a worker is asked to dispatch it (erp.tasks.outbox_dispatch;
    the beat sweep covers a broker that is down at that moment), never here.
    """
    message = OutboxMessage(
        topic=topic, payload=payload, dedupe_key=dedupe_key, ordering_key=ordering_key
    )
    message.pk = _insert_unless_queued(message)
    if message.pk is None:
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)
    message._state.adding = False
    message._state.db = connection.alias
    outbox_dispatch_after_commit()
    return message


def _insert_unless_queued(message: OutboxMessage) -> int | None:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING: the new row's id, or None when the key was
    queued before. One statement and no savepoint, where catching the unique violation would
    need a savepoint around the insert so as not to abort the caller's transaction (every hot
    path that queues a message — a receipt, a refund — runs inside one)."""
    fields = [field for field in OutboxMessage._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    values = [field.get_db_prep_save(field.pre_save(message, True), connection) for field in fields]
    sql = (
        f"INSERT INTO {quote(OutboxMessage._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return row[0] if row else None
