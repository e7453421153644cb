"""Quarantine: who put a unit in the cage and why, and the maker-checker release."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .disposition import Outcome
from .receiving import ReturnUnit


class QuarantineRecord(models.Model):
    """One stay of a unit in quarantine. `quarantined_by` may never release it."""

    class State(models.TextChoices):
        HELD = "held", "Held"
        RELEASED = "released", "Released"

    unit = models.ForeignKey(ReturnUnit, on_delete=models.PROTECT, related_name="quarantines")
    reason = models.CharField(max_length=300)
    needs = models.JSONField(
        default=list, blank=True, help_text="What must be true before release (serial, review)."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.HELD)
    quarantined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    quarantined_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)
    released_to = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    release_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    history = HistoricalRecords(excluded_fields=["needs"])

    class Meta:
        ordering = ["quarantined_at", "id"]
        permissions = [("release_quarantine", "Can release a unit from quarantine")]
        constraints = [
            models.UniqueConstraint(
                fields=["unit"],
                condition=models.Q(state="held"),
                name="quarantine_one_held_per_unit",
            ),
            models.CheckConstraint(
                condition=~models.Q(released_by=models.F("quarantined_by")),
                name="quarantine_released_by_another",
                violation_error_message="The person who quarantined a unit cannot release it.",
            ),
            models.CheckConstraint(
                condition=models.Q(state="held")
                | (~models.Q(release_reason="") & models.Q(released_by__isnull=False)),
                name="quarantine_release_says_who_and_why",
                violation_error_message="A release names who released it and why.",
            ),
        ]
        indexes = [models.Index(fields=["state", "quarantined_at"], name="quarantine_aging")]

    def __str__(self) -> str:
        return f"{self.unit} quarantined {self.quarantined_at:%Y-%m-%d}"
