"""The outbox's write side: queue a message in the caller's transaction."""

from django.db import IntegrityError, transaction

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
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                topic=topic, payload=payload, dedupe_key=dedupe_key, ordering_key=ordering_key
            )
    except IntegrityError:
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)
    outbox_dispatch_after_commit()
    return message
