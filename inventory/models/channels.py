"""What each channel may sell, and the available-to-sell (ATS) figure pushed to it."""

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from erp.models import Channel, Product, Warehouse

from .states import NEVER_SELLABLE_STATES, STATE_VALUES, StockState
from .units import GRADES


def default_sellable_states() -> list[str]:
    return [StockState.AVAILABLE]


def default_sellable_grades() -> list[str]:
    return ["A"]


class ChannelRule(models.Model):
    """The states, grades and warehouses whose stock a channel may sell.

    A channel without a rule sells `available` stock from every warehouse, as new (ungraded
    or grade A). A graded serialized unit counts only on the channels whose rule sells its
    grade: the outlet channel sells grade-B refurbished units, the main channel does not.
    Changed only through `inventory.services.channel_rule_save`, which recomputes ATS.
    """

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="stock_rule")
    sellable_states = models.JSONField(default=default_sellable_states)
    sellable_grades = models.JSONField(
        default=default_sellable_grades,
        blank=True,
        help_text='Grades of inspected units it may sell, e.g. ["A", "B"] for an outlet. '
        "Units never graded (new stock) are sellable whatever this says.",
    )
    warehouses = models.ManyToManyField(
        Warehouse, blank=True, related_name="+", help_text="Empty: every warehouse."
    )

    history = HistoricalRecords(m2m_fields=[warehouses])

    class Meta:
        ordering = ["channel"]

    def __str__(self) -> str:
        return f"{self.channel}: {', '.join(self.sellable_states)}"

    def clean(self) -> None:
        unknown = set(self.sellable_states) - STATE_VALUES
        if unknown:
            raise ValidationError({"sellable_states": f"Unknown states: {sorted(unknown)}."})
        forbidden = set(self.sellable_states) & NEVER_SELLABLE_STATES
        if forbidden:
            raise ValidationError(
                {"sellable_states": f"No channel may sell stock that is {sorted(forbidden)}."}
            )
        if not isinstance(self.sellable_grades, list) or set(self.sellable_grades) - set(GRADES):
            raise ValidationError(
                {"sellable_grades": f"A list of grades among {', '.join(GRADES)}."}
            )


class SafetyStock(models.Model):
    """Units of a SKU held back from a channel's ATS. Changed only through
    `inventory.services.safety_stock_save` / `safety_stock_delete`, which recompute ATS."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="safety_stocks")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="safety_stocks")
    qty = models.PositiveIntegerField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["channel", "product"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "product"], name="safety_stock_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel} × {self.product_id}: {self.qty}"


class ChannelAvailability(models.Model):
    """ATS of a SKU on a channel; `version` grows at each change, the push records the last
    version the channel acknowledged."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="availability")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="availability")
    ats = models.PositiveIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    last_pushed_version = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "product"]
        default_permissions = ("view",)
        verbose_name_plural = "channel availability"
        constraints = [
            models.UniqueConstraint(fields=["product", "channel"], name="availability_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel} × {self.product_id}: {self.ats} (v{self.version})"
