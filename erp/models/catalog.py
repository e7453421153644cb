"""Products (SKUs), their categories and bundle make-up, and how channels list them."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from erp.validators import normalize_gtin, validate_gtin

from .base import TimeStampedModel
from .channels import Channel

NON_NEGATIVE = [MinValueValidator(Decimal("0"), "Must be zero or more.")]


class Category(TimeStampedModel):
    class Department(models.TextChoices):
        APPAREL = "apparel", "Apparel"
        ELECTRONICS = "electronics", "Consumer electronics"
        HEALTH_BEAUTY = "health_beauty", "Health & beauty"
        HOME = "home", "Home"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    department = models.CharField(max_length=20, choices=Department.choices)

    history = HistoricalRecords()

    class Meta:
        ordering = ["department", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(TimeStampedModel):
    """A stock-keeping unit. `sku` is ours; channels list it under their own ids."""

    class Tracking(models.TextChoices):
        NONE = "none", "Quantity only"
        LOT = "lot", "By lot"
        SERIAL = "serial", "By serial number"

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    gtin = models.CharField(
        "GTIN",
        max_length=14,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_gtin],
        help_text="GTIN-8, 12 (UPC), 13 (EAN) or 14; stored as 14 digits.",
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    tracking = models.CharField(max_length=10, choices=Tracking.choices, default=Tracking.NONE)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, validators=NON_NEGATIVE)
    list_price = models.DecimalField(max_digits=12, decimal_places=2, validators=NON_NEGATIVE)
    is_high_value = models.BooleanField(
        default=False, help_text="High-value units are quarantined for verification on return."
    )
    warranty_months = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_cost__gte=0),
                name="product_unit_cost_not_negative",
                violation_error_message="Unit cost cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(list_price__gte=0),
                name="product_list_price_not_negative",
                violation_error_message="List price cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"

    def clean(self) -> None:
        if self.gtin:
            self.gtin = normalize_gtin(self.gtin)
        else:
            self.gtin = None


class BundleComponent(TimeStampedModel):
    """One component of a bundle SKU; receiving checks every component came back."""

    bundle = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="bundled_in")
    quantity = models.PositiveSmallIntegerField(default=1)

    history = HistoricalRecords()

    class Meta:
        ordering = ["bundle", "component"]
        constraints = [
            models.UniqueConstraint(
                fields=["bundle", "component"],
                name="bundle_component_unique",
                violation_error_message="This component is already part of the bundle.",
            ),
            models.CheckConstraint(
                condition=~models.Q(bundle=models.F("component")),
                name="bundle_is_not_its_own_component",
                violation_error_message="A bundle cannot contain itself.",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1),
                name="bundle_component_quantity_positive",
                violation_error_message="A component's quantity is at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bundle.sku} ⊃ {self.quantity} × {self.component.sku}"


class ChannelListing(TimeStampedModel):
    """How a channel names one of our SKUs: its seller SKU and its listing id (ASIN, variant)."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="listings")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="listings")
    channel_sku = models.CharField("channel SKU", max_length=80)
    listing_id = models.CharField(max_length=80, blank=True, help_text="ASIN, variant id…")
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["channel", "channel_sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "channel_sku"],
                name="channel_sku_unique_per_channel",
                violation_error_message="This channel already lists a product under that SKU.",
            ),
            models.UniqueConstraint(
                fields=["channel", "listing_id"],
                condition=~models.Q(listing_id=""),
                name="listing_id_unique_per_channel",
                violation_error_message="This channel already has a listing with that id.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code}:{self.channel_sku}"
