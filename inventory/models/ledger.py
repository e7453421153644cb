"""The append-only movement ledger and the balances it maintains."""

import pgtrigger
from django.conf import settings
from django.db import models

from erp.models import Location, Product

from .states import StockState


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "Receive"
    MOVE = "move", "Move"
    ADJUST = "adjust", "Adjust"
    RESERVE = "reserve", "Reserve"
    RELEASE = "release", "Release"
    SHIP = "ship", "Ship"
    UNIT_TRANSITION = "unit_transition", "Unit transition"
    CORRECTION = "correction", "Correction"


class CauseType(models.TextChoices):
    """The kind of document a movement was posted for; `cause_id` is its id."""

    RETURN_CASE = "return_case", "Return case"
    RECEIPT = "receipt", "Receipt"
    INSPECTION = "inspection", "Inspection"
    DISPOSITION = "disposition", "Disposition"
    ADJUSTMENT = "adjustment", "Adjustment"
    ORDER_SHIPMENT = "order_shipment", "Order shipment"
    ORDER_RESERVATION = "order_reservation", "Order reservation"
    SNAPSHOT_CORRECTION = "snapshot_correction", "Snapshot correction"
    COUNT = "count", "Stock count"
    TRANSFER = "transfer", "Transfer"
    IMPORT = "import", "Import"


class StockMovement(models.Model):
    """A quantity of one SKU (lot, unit) changing location and/or state.

    A null side is "outside": a receipt comes from outside, a shipment or write-off goes
    there. Rows are never changed or deleted (PostgreSQL refuses it); a correction is a new,
    reversing movement.
    """

    # The references are checked by triggers instead of foreign key constraints (migration
    # 0011): once per statement for all its rows, where a constraint checks each row at commit
    # (most of an import's commit). They refuse the same things: a row naming a missing
    # product, unit, location or user, and deleting (or re-keying) one the ledger names.
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="stock_movements",
        db_index=False,
        db_constraint=False,
    )
    qty = models.PositiveIntegerField()
    lot = models.CharField(max_length=40, blank=True, default="")
    # The nullable references are indexed where they are set (see Meta.indexes): most rows
    # carry no unit, and a receipt has no source nor a shipment a destination.
    unit = models.ForeignKey(
        "inventory.InventoryUnit",
        on_delete=models.PROTECT,
        related_name="movements",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    from_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    from_state = models.CharField(max_length=32, choices=StockState.choices, null=True, blank=True)
    to_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    to_state = models.CharField(max_length=32, choices=StockState.choices, null=True, blank=True)
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    cause_type = models.CharField(max_length=24, choices=CauseType.choices)
    cause_id = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        help_text="Empty for the system.",
    )
    occurred_at = models.DateTimeField()
    posted_at = models.DateTimeField()
    # Unique through Meta.constraints: `unique=True` would add a second index on PostgreSQL
    # (varchar_pattern_ops, for LIKE) that every posted row pays for and no query needs.
    idempotency_key = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        default_permissions = ("view",)
        permissions = [
            ("adjust_stock", "Can adjust stock (with a reason)"),
            ("release_quarantine", "Can release stock from quarantine"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="movement_idempotency_key"),
            models.CheckConstraint(
                condition=models.Q(qty__gt=0),
                name="movement_qty_positive",
                violation_error_message="A movement's quantity is at least 1.",
            ),
            models.CheckConstraint(
                condition=models.Q(from_location__isnull=True, from_state__isnull=True)
                | models.Q(from_location__isnull=False, from_state__isnull=False),
                name="movement_from_side_complete",
                violation_error_message="The from side names both a location and a state.",
            ),
            models.CheckConstraint(
                condition=models.Q(to_location__isnull=True, to_state__isnull=True)
                | models.Q(to_location__isnull=False, to_state__isnull=False),
                name="movement_to_side_complete",
                violation_error_message="The to side names both a location and a state.",
            ),
            models.CheckConstraint(
                condition=models.Q(from_location__isnull=False)
                | models.Q(to_location__isnull=False),
                name="movement_not_outside_to_outside",
                violation_error_message="A movement starts or ends in our stock.",
            ),
        ]
        indexes = [
            models.Index(fields=["product", "occurred_at"], name="movement_product_time"),
            models.Index(fields=["cause_type", "cause_id"], name="movement_cause"),
            models.Index(
                fields=["unit"], condition=models.Q(unit__isnull=False), name="movement_unit"
            ),
            models.Index(
                fields=["from_location"],
                condition=models.Q(from_location__isnull=False),
                name="movement_from_location",
            ),
            models.Index(
                fields=["to_location"],
                condition=models.Q(to_location__isnull=False),
                name="movement_to_location",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="stock_movement_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.qty} × {self.product_id} ({self.idempotency_key})"


class StockBalance(models.Model):
    """On hand per SKU, location, state and lot ("" when the SKU has no lots).

    Written only by `inventory.services`, in the movement's transaction; always equals the sum
    of the movements into that key minus those out of it. No location kind may go negative in
    this pass, so the database refuses a negative quantity outright.
    """

    # The references are checked by triggers instead of foreign key constraints (migration
    # 0013), once per statement for all its new rows: a constraint checked each new row at
    # commit, as long as the rest of an import's balance work. They refuse the same things.
    # The location index serves the screens and counts that read a location's balances.
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="stock_balances",
        db_index=False,
        db_constraint=False,
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    state = models.CharField(max_length=32, choices=StockState.choices)
    lot = models.CharField(max_length=40, blank=True, default="")
    qty = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["product", "location", "state", "lot"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["product", "location", "state", "lot"], name="balance_key_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(qty__gte=0),
                name="balance_not_negative",
                violation_error_message="Stock cannot go negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.location_id}/{self.state}/{self.lot}: {self.qty}"
