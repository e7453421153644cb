"""Sales channels: where orders come from and returns are requested."""

from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from .base import TimeStampedModel

currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code such as USD.")
region_code = RegexValidator(r"^[A-Z]{2,8}$", "Use an upper-case region code such as US or EU.")


class Channel(TimeStampedModel):
    class Kind(models.TextChoices):
        STOREFRONT = "storefront", "Own storefront"
        MARKETPLACE = "marketplace", "Marketplace"
        WHOLESALE = "wholesale", "Wholesale"
        RETAIL = "retail", "Retail store"

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        AMAZON = "amazon", "Amazon"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    platform = models.CharField(max_length=20, choices=Platform.choices, default=Platform.OTHER)
    region = models.CharField(max_length=8, validators=[region_code])
    currency = models.CharField(max_length=3, validators=[currency_code])
    # Webhook signing secrets. The previous one is still accepted while a rotation settles
    # (Shopify keeps signing with the old secret for up to an hour).
    webhook_secret = models.CharField(max_length=200, blank=True)
    previous_webhook_secret = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords(excluded_fields=["webhook_secret", "previous_webhook_secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
