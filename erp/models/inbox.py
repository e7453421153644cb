"""The integration inbox and the credentials that authenticate it, plus where outbox messages go.

Every inbound webhook lands here first, keyed by (source, external id), so a redelivery is a
no-op; a Celery task processes it. Secrets live in `IntegrationCredential` / `Channel` only:
an event keeps its headers minus anything that signs or authenticates.
"""

from django.db import models
from django.utils import timezone


class InboundSource(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    EASYPOST = "easypost", "EasyPost"
    AFTERSHIP = "aftership", "AfterShip"
    SHIPPO = "shippo", "Shippo"
    SHIPHERO = "shiphero", "ShipHero"
    SHIPBOB = "shipbob", "ShipBob"
    EXTENSIV = "extensiv", "Extensiv"
    AMAZON = "amazon", "Amazon"


class InboundEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    PARKED = "parked", "Parked"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


class InboundEvent(models.Model):
    """One delivery from the outside world, stored before anything acts on it."""

    Source = InboundSource
    Status = InboundEventStatus

    source = models.CharField(max_length=20, choices=InboundSource.choices)
    account = models.CharField(
        max_length=80, blank=True, help_text="Which channel or account it came in for."
    )
    external_id = models.CharField(
        max_length=200, help_text="The sender's event id, or a digest of the body if it has none."
    )
    topic = models.CharField(max_length=80, blank=True)
    subject_ref = models.CharField(
        max_length=120,
        blank=True,
        help_text="What the event is about (order, tracker, SKU), to order snapshots.",
    )
    occurred_at = models.DateTimeField(null=True, blank=True)
    body = models.BinaryField(help_text="The raw body exactly as received (signatures cover it).")
    headers = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=20, choices=InboundEventStatus.choices, default=InboundEventStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [("replay_inboundevent", "Can replay parked or failed inbound events")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="inbound_event_unique_per_source"
            )
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="inbound_event_status"),
            models.Index(fields=["source", "subject_ref"], name="inbound_event_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.topic} {self.external_id}"

    @property
    def is_rejected(self) -> bool:
        return self.status == InboundEventStatus.REJECTED

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class IntegrationCredential(models.Model):
    """The signing secret of one carrier or 3PL account; the previous one is accepted while a
    rotation settles. Shopify channels keep theirs on `Channel`."""

    source = models.CharField(max_length=20, choices=InboundSource.choices)
    account = models.SlugField(max_length=80, help_text="Appears in the webhook URL.")
    secret = models.CharField(max_length=200)
    previous_secret = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["source", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "account"], name="integration_credential_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} · {self.account}"

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.secret, self.previous_secret) if s]


class OutboundEndpoint(models.Model):
    """Where the generic signed-webhook sender posts the outbox messages of one topic."""

    topic = models.CharField(max_length=80, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Signs each body (HMAC-SHA256, base64).")
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["topic"]

    def __str__(self) -> str:
        return f"{self.topic} → {self.url}"
