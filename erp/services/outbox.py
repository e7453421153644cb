"""The outbox's write side: queue a message in the caller's transaction."""

from django.db import connection, models

from erp.models import OutboxMessage
from erp.sql import insert_of

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
    return _queued(message)


def outbox_enqueue_noted(
    *,
    topic: str,
    payload: dict,
    dedupe_key: str,
    ordering_key: str = "",
    note: models.Model,
    message_id_field: str,
) -> OutboxMessage:
    """`outbox_enqueue`, and insert `note` — a new row of the caller's that records the
    message, its `message_id_field` set to the message's id (the one queued before under
    `dedupe_key`, if any) — in the same statement on PostgreSQL; elsewhere in two.

    Effects: as `outbox_enqueue`; `note` is saved (its primary key set)."""
    message = OutboxMessage(
        topic=topic, payload=payload, dedupe_key=dedupe_key, ordering_key=ordering_key
    )
    queue = insert_of(message)
    row = insert_of(note, leave_out=(message_id_field,))
    found = None
    if connection.vendor == "postgresql" and queue is not None and row is not None:
        quote = connection.ops.quote_name
        column = quote(note._meta.get_field(message_id_field).column)
        # The second branch sees the message only when the key was queued before this
        # statement; the first only when this statement queued it: one row either way.
        sql = (
            f"WITH queued AS (INSERT INTO {queue.table} ({', '.join(queue.columns)}) "
            f"VALUES ({queue.placeholders}) ON CONFLICT ({quote('dedupe_key')}) DO NOTHING "
            f"RETURNING {quote('id')}), "
            f"message AS (SELECT {quote('id')} FROM queued UNION ALL "
            f"SELECT {quote('id')} FROM {queue.table} WHERE {quote('dedupe_key')} = %s) "
            f"INSERT INTO {row.table} ({', '.join([*row.columns, column])}) "
            f"SELECT {row.placeholders}, message.{quote('id')} FROM message "
            f"RETURNING {quote(note._meta.pk.column)}, {column}, "
            f"(SELECT count(*) FROM queued)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*queue.params, dedupe_key, *row.params])
            found = cursor.fetchone()
    if found is None:
        # Not PostgreSQL, or the key was queued by a transaction that committed while this
        # statement waited on it (its snapshot did not see that message): two statements.
        message = outbox_enqueue(
            topic=topic, payload=payload, dedupe_key=dedupe_key, ordering_key=ordering_key
        )
        setattr(note, message_id_field, message.pk)
        note.save()
        return message
    note.pk, message.pk, queued_now = found
    setattr(note, message_id_field, message.pk)
    note._state.adding = False
    note._state.db = connection.alias
    if not queued_now:
        return OutboxMessage.objects.get(pk=message.pk)
    return _queued(message)


def outbox_enqueue_noted_many(
    queued: list[tuple[OutboxMessage, models.Model]], *, message_id_field: str
) -> None:
    """`outbox_enqueue_noted` for many (unsaved message, note) pairs — e.g. a batch's new
    cases' customer messages — in three statements in all instead of one a pair: the
    messages in one INSERT (each key at most once: a key queued before, or earlier in the
    list, keeps its first message), the ids of the keys queued before in one SELECT (only
    when there are any), the notes in one INSERT, each noting its key's message.

    Effects: as `outbox_enqueue_noted` for each pair, in their order; the notes are saved.
    One dispatch request after commit when a message was queued now."""
    if not queued:
        return
    inserts = [insert_of(message) for message, _ in queued]
    if connection.vendor != "postgresql" or any(insert is None for insert in inserts):
        for message, note in queued:
            message.pk = outbox_enqueue(
                topic=message.topic,
                payload=message.payload,
                dedupe_key=message.dedupe_key,
                ordering_key=message.ordering_key,
            ).pk
            setattr(note, message_id_field, message.pk)
            note.save()
        return
    quote = connection.ops.quote_name
    first = inserts[0]
    sql = (
        f"INSERT INTO {first.table} ({', '.join(first.columns)}) "
        f"VALUES {', '.join(f'({insert.placeholders})' for insert in inserts)} "
        f"ON CONFLICT ({quote('dedupe_key')}) DO NOTHING "
        f"RETURNING {quote('id')}, {quote('dedupe_key')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [param for insert in inserts for param in insert.params])
        ids = {key: pk for pk, key in cursor.fetchall()}
    queued_now = bool(ids)
    before = {message.dedupe_key for message, _ in queued} - ids.keys()
    if before:
        ids.update(
            OutboxMessage.objects.filter(dedupe_key__in=before).values_list("dedupe_key", "pk")
        )
    notes = []
    for message, note in queued:
        message.pk = ids[message.dedupe_key]
        message._state.adding = False
        message._state.db = connection.alias
        setattr(note, message_id_field, message.pk)
        notes.append(note)
    type(notes[0]).objects.bulk_create(notes)
    if queued_now:
        outbox_dispatch_after_commit()


def _queued(message: OutboxMessage) -> OutboxMessage:
    message._state.adding = False
    message._state.db = connection.alias
    outbox_dispatch_after_commit()
    return message


def _insert_unless_queued(message: OutboxMessage) -> int | None:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING: the new row's id, or None when the key was
    queued before. One statement and no savepoint, where catching the unique violation would
    need a savepoint around the insert so as not to abort the caller's transaction (every hot
    path that queues a message — a receipt, a refund — runs inside one)."""
    insert = insert_of(message)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {insert.table} ({', '.join(insert.columns)}) "
        f"VALUES ({insert.placeholders}) "
        f"ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, insert.params)
        row = cursor.fetchone()
    return row[0] if row else None
