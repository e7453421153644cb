"""The outbox: messages to the outside world, written in the transaction that causes them.

A Celery task dispatches them after commit, so nothing is lost when Redis or a worker is down.
"""

from django.db import models


class OutboxMessage(models.Model):
    topic = models.CharField(max_length=80)
    payload = models.JSONField()
    dedupe_key = models.CharField(
        max_length=200, unique=True, help_text="The same event is queued at most once."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # A database default too: the inventory ledger inserts outbox rows in SQL.
    ordering_key = models.CharField(
        max_length=200,
        blank=True,
        db_default="",
        help_text="Messages sharing a key (e.g. a SKU on a channel) are sent strictly in order.",
    )
    # Empty means "due now"; after a failed send it is when the dispatcher may try again.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The dead letters: sends that failed too often; only a person's replay re-queues them.
    dead_lettered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["topic", "id"],
                condition=models.Q(dispatched_at__isnull=True),
                name="outbox_pending_by_topic",
            ),
            # "Is an older message of this ordering key still unsent?" is asked of every
            # candidate the dispatcher looks at; without this it scans the backlog each time.
            models.Index(
                fields=["ordering_key", "id"],
                condition=models.Q(dispatched_at__isnull=True, dead_lettered_at__isnull=True),
                name="outbox_pending_by_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"

    @property
    def status(self) -> str:
        if self.dispatched_at:
            return "sent"
        if self.dead_lettered_at:
            return "dead"
        return "retrying" if self.attempts else "pending"
