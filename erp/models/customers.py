"""Customers, their segment (which return policies key on) and their ids on each channel."""

from django.db import models
from simple_history.models import HistoricalRecords

from .base import TimeStampedModel
from .channels import Channel


class Customer(TimeStampedModel):
    class Segment(models.TextChoices):
        STANDARD = "standard", "Standard"
        VIP = "vip", "VIP"
        WHOLESALE = "wholesale", "Wholesale"
        WATCHLIST = "watchlist", "Watchlist"

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=160)
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.STANDARD)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class CustomerChannelAccount(TimeStampedModel):
    """The customer's id on one channel (Shopify customer id, Amazon buyer id…)."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="channel_accounts"
    )
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=80)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                name="customer_external_id_unique_per_channel",
                violation_error_message="Another customer already has that id on this channel.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel.code}:{self.external_id}"
