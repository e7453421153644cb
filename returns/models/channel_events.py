"""What carriers and channels told us about a return case, kept for its timeline: carrier
milestones (with their time and ETA), the channel's own return lifecycle, labels issued for the
return parcel and refunds the channel issued. Written only by `returns.handlers`."""

from django.db import models
from django.utils import timezone

from erp.models import Channel
from erp.models.inbox import InboundSource

from .cases import ReturnCase


class ExternalEventKind(models.TextChoices):
    LABEL = "label", "Return label issued"
    IN_TRANSIT = "in_transit", "Carrier: in transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Carrier: out for delivery"
    DELIVERED = "delivered", "Carrier: delivered"
    RETURNED_TO_SENDER = "returned_to_sender", "Carrier: returning to sender"
    FAILURE = "failure", "Carrier: delivery problem"
    TRACKING = "tracking", "Carrier: tracking update"
    CHANNEL_REQUESTED = "channel_requested", "Channel: return requested"
    CHANNEL_APPROVED = "channel_approved", "Channel: return approved"
    CHANNEL_DECLINED = "channel_declined", "Channel: return declined"
    CHANNEL_CANCELLED = "channel_cancelled", "Channel: return cancelled"
    CHANNEL_CLOSED = "channel_closed", "Channel: return closed"
    CHANNEL_REOPENED = "channel_reopened", "Channel: return reopened"
    CHANNEL_REFUND = "channel_refund", "Channel: refund issued"
    CHANNEL_REPORTED = "channel_reported", "Channel: return reported"
    CHANNEL_UPDATED = "channel_updated", "Channel: return updated"
    CHANNEL_DISPOSED = "channel_disposed", "Channel: disposition recorded"


CARRIER_KINDS = (
    ExternalEventKind.IN_TRANSIT,
    ExternalEventKind.OUT_FOR_DELIVERY,
    ExternalEventKind.DELIVERED,
    ExternalEventKind.RETURNED_TO_SENDER,
    ExternalEventKind.FAILURE,
    ExternalEventKind.TRACKING,
)


class ChannelReturn(models.Model):
    """The channel's own return (e.g. a Shopify Return) that opened one of our cases. Ids are
    text: Shopify's exceed float precision."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=80)
    name = models.CharField(max_length=80, blank=True)
    case = models.OneToOneField(ReturnCase, on_delete=models.CASCADE, related_name="channel_return")
    status = models.CharField(max_length=20, blank=True, help_text="The channel's last status.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["channel", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="channel_return_unique_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel.code}:{self.external_id} → {self.case}"


class ReturnCaseEvent(models.Model):
    """One thing a carrier or channel reported about the case, once: `dedupe_key` repeats for
    a redelivery, so the same report is never recorded twice."""

    case = models.ForeignKey(ReturnCase, on_delete=models.CASCADE, related_name="external_events")
    source = models.CharField(max_length=20, help_text="easypost, aftership, shippo, shopify…")
    kind = models.CharField(max_length=30, choices=ExternalEventKind.choices)
    dedupe_key = models.CharField(max_length=200)
    occurred_at = models.DateTimeField(help_text="When it happened, as the sender says.")
    recorded_at = models.DateTimeField(default=timezone.now)
    carrier = models.CharField(max_length=40, blank=True)
    tracking_number = models.CharField(max_length=60, blank=True, db_index=True)
    eta = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    applied = models.CharField(
        max_length=200, blank=True, help_text="What it changed on the case, or why nothing."
    )
    data = models.JSONField(default=dict, blank=True)
    inbound_event_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["case", "occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "dedupe_key"], name="return_case_event_once_per_case"
            )
        ]
        indexes = [models.Index(fields=["case", "-occurred_at"], name="return_case_event_recent")]

    def __str__(self) -> str:
        return f"{self.case} · {self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def source_label(self) -> str:
        return dict(InboundSource.choices).get(self.source, self.source)
