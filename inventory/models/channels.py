"""What each channel may sell, and the available-to-sell (ATS) figure pushed to it."""

from django.core.exceptions import ValidationError
from django.db import models

from erp.models import Channel, Product, Warehouse

from .states import NEVER_SELLABLE_STATES, STATE_VALUES, StockState


def default_sellable_states() -> list[str]:
    return [StockState.AVAILABLE]


class ChannelRule(models.Model):
    """The states and warehouses whose stock a channel may sell.

    A channel without a rule sells `available` stock from every warehouse. Grades (e.g. the
    outlet channel selling grade-B refurbished units) come with inspection grading.
    """

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="stock_rule")
    sellable_states = models.JSONField(default=default_sellable_states)
    warehouses = models.ManyToManyField(
        Warehouse, blank=True, related_name="+", help_text="Empty: every warehouse."
    )

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


class SafetyStock(models.Model):
    """Units of a SKU held back from a channel's ATS."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="safety_stocks")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="safety_stocks")
    qty = models.PositiveIntegerField()

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
