"""Liveness of background workers, so operators see when queued work would stall."""

from django.db import models


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=200, unique=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return self.hostname
