"""Return reasons: one canonical set, and each channel's raw codes mapped onto it."""

from django.db import models
from simple_history.models import HistoricalRecords

from .base import TimeStampedModel
from .channels import Channel


class ReasonCode(TimeStampedModel):
    class Group(models.TextChoices):
        """What a reason says about the cause; anomaly detection reads shifts between groups."""

        SIZE = "size", "Size or fit"
        DEFECT = "defect", "Defect or damage"
        NOT_AS_DESCRIBED = "not_as_described", "Not as described"
        FULFILMENT_ERROR = "fulfilment_error", "Fulfilment error"
        PREFERENCE = "preference", "Customer preference"
        LOGISTICS = "logistics", "Delivery or logistics"
        FRAUD = "fraud", "Unauthorized or fraud"
        OTHER = "other", "Other"

    code = models.CharField(max_length=40, unique=True)
    label = models.CharField(max_length=120)
    group = models.CharField(max_length=20, choices=Group.choices)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.label


class ReasonCodeMapping(TimeStampedModel):
    """A channel's raw reason code (upper-cased) and the canonical reason it means."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="reason_mappings")
    raw_code = models.CharField(max_length=60)
    raw_label = models.CharField(max_length=200, blank=True)
    reason = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, related_name="mappings")

    history = HistoricalRecords()

    class Meta:
        ordering = ["channel", "raw_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "raw_code"],
                name="reason_raw_code_unique_per_channel",
                violation_error_message="This channel already maps that raw code.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel.code}:{self.raw_code} → {self.reason.code}"

    def clean(self) -> None:
        # Shopify sends `wrong_item` in webhooks and `WRONG_ITEM` in GraphQL: one key for both.
        self.raw_code = self.raw_code.strip().upper()
