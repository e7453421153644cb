"""Sales orders as the channels report them: what was sold, shipped and delivered.

Returns are authorized against these lines, so a line records which serials and lots left
the warehouse for it.
"""

from django.db import models
from simple_history.models import HistoricalRecords

from .base import TimeStampedModel
from .catalog import NON_NEGATIVE, Product
from .channels import Channel, currency_code
from .customers import Customer
from .sites import Warehouse


class SalesOrder(TimeStampedModel):
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(
        max_length=64, help_text="The channel's order id, kept as text (ids outgrow floats)."
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    currency = models.CharField(max_length=3, validators=[currency_code])
    # A database default too: the demo seed COPYs orders without it.
    payment_reference = models.CharField(
        max_length=120,
        blank=True,
        default="",
        db_default="",
        help_text="The payment provider's charge or payment intent the order was paid with; "
        "refunds to the original payment are made against it.",
    )
    ship_from = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="shipped_orders", null=True, blank=True
    )
    placed_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "number"],
                name="order_number_unique_per_channel",
                violation_error_message="This channel already has an order with that number.",
            ),
            models.CheckConstraint(
                condition=models.Q(shipped_at__isnull=True)
                | models.Q(shipped_at__gte=models.F("placed_at")),
                name="order_shipped_after_placed",
                violation_error_message="An order cannot ship before it was placed.",
            ),
            models.CheckConstraint(
                condition=models.Q(delivered_at__isnull=True)
                | models.Q(shipped_at__isnull=False, delivered_at__gte=models.F("shipped_at")),
                name="order_delivered_after_shipped",
                violation_error_message="An order is delivered only after it shipped.",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-placed_at"]),
            models.Index(fields=["-placed_at"]),
            # Customer service searches by the order number alone, across channels.
            models.Index(fields=["number"], name="order_number"),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} #{self.number}"


class OrderLine(TimeStampedModel):
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    channel_line_id = models.CharField(
        max_length=64, blank=True, help_text="The channel's line item id (Shopify line_item.id)."
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, validators=NON_NEGATIVE)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_number"],
                name="order_line_number_unique",
                violation_error_message="The order already has a line with that number.",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1),
                name="order_line_quantity_positive",
                violation_error_message="A line's quantity is at least 1.",
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0),
                name="order_line_price_not_negative",
                violation_error_message="A line's unit price cannot be negative.",
            ),
        ]
        indexes = [models.Index(fields=["channel_line_id"])]

    def __str__(self) -> str:
        return f"{self.order} line {self.line_number}"


class ShippedItem(TimeStampedModel):
    """A serial or lot that left on an order line: returns must bring back one of these."""

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="shipped_items")
    serial_number = models.CharField(max_length=80, blank=True)
    lot_number = models.CharField(max_length=40, blank=True)
    lot_expiry = models.DateField(null=True, blank=True)
    quantity = models.PositiveIntegerField(default=1)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(serial_number="") | ~models.Q(lot_number=""),
                name="shipped_item_has_serial_or_lot",
                violation_error_message="A shipped item records its serial number or lot.",
            ),
            models.CheckConstraint(
                condition=models.Q(serial_number="") | models.Q(quantity=1),
                name="shipped_serial_quantity_is_one",
                violation_error_message="A serial number is one unit.",
            ),
        ]
        indexes = [
            models.Index(fields=["serial_number"]),
            models.Index(fields=["lot_number"]),
        ]

    def __str__(self) -> str:
        return self.serial_number or f"lot {self.lot_number} × {self.quantity}"
