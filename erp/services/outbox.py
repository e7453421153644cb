"""The outbox's write side: queue a message in the caller's transaction."""

from django.db import IntegrityError, transaction

from erp.models import OutboxMessage


def outbox_enqueue(*, topic: str, payload: dict, dedupe_key: str) -> OutboxMessage:
    """Queue `payload` under `topic`, at most once per `dedupe_key`.

    Effects: inserts an OutboxMessage in the current transaction, so it exists exactly when
    the change that caused it commits; a second call with the same key returns the first
    message unchanged. Dispatch happens after commit (erp.tasks), never here.
    """
    try:
        with transaction.atomic():
            return OutboxMessage.objects.create(topic=topic, payload=payload, dedupe_key=dedupe_key)
    except IntegrityError:
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)
