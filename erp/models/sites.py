"""Warehouses (our own or a 3PL's) and the locations stock sits in."""

from django.db import models
from simple_history.models import HistoricalRecords

from .base import TimeStampedModel


class Warehouse(TimeStampedModel):
    class Operator(models.TextChoices):
        OWN = "own", "Own warehouse"
        THIRD_PARTY = "3pl", "Third-party logistics (3PL)"

    class Provider(models.TextChoices):
        NONE = "", "None (own systems)"
        SHIPHERO = "shiphero", "ShipHero"
        SHIPBOB = "shipbob", "ShipBob"
        EXTENSIV = "extensiv", "Extensiv"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    operator = models.CharField(max_length=10, choices=Operator.choices)
    provider = models.CharField(max_length=20, choices=Provider.choices, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(operator="own", provider="")
                | models.Q(operator="3pl") & ~models.Q(provider=""),
                name="warehouse_provider_matches_operator",
                violation_error_message="A 3PL warehouse names its provider; our own has none.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Location(TimeStampedModel):
    class Kind(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        INSPECTION = "inspection", "Inspection"
        QUARANTINE = "quarantine", "Quarantine"
        STOCK = "stock", "Stock"
        REFURBISHMENT = "refurbishment", "Refurbishment"
        VENDOR_RETURN = "vendor_return", "Vendor return"
        LIQUIDATION = "liquidation", "Liquidation"
        DISPOSAL = "disposal", "Disposal"

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="locations")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "code"],
                name="location_code_unique_per_warehouse",
                violation_error_message="This warehouse already has a location with that code.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.warehouse.code}/{self.code}"
