"""Serialized units: one row per serial of a serial-tracked SKU, with its state machine."""

from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from erp.models import Location, Product

from .states import OUTSIDE, UNIT_STATE_CHOICES, StockState, sources_of

S = StockState

# The inspection grades (warehouse.Grade: A as new … F unsaleable). Inventory sits below the
# warehouse app, so it keeps the letters only.
GRADES = ("A", "B", "C", "D", "E", "F")
GRADE_CHOICES = [(grade, grade) for grade in GRADES]


class InventoryUnit(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """Where one serial is and in which state; `location` is empty while it is outside.

    The transitions are those of `states.ALLOWED_TRANSITIONS`; they only assign the state.
    `inventory.services` calls them and posts the matching movement (qty 1).

    `grade` is the unit's condition from its last inspection, blank for a unit never graded
    (new stock). The grade lives here, not in the ledger key: grading is per serial, and a
    regraded unit changes no quantity anywhere, so balances and movements stay as they are and
    only the channels' ATS (which counts graded units against each rule's sellable grades)
    follows. Quantity stock carries no grade: the disposition rules only restock it as sellable
    new, and send other grades to refurbish, liquidation or disposal.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="units")
    serial = models.CharField(max_length=80)
    lot = models.CharField(max_length=40, blank=True, default="")
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    state = FSMField(max_length=32, choices=UNIT_STATE_CHOICES, protected=True)
    grade = models.CharField(max_length=1, choices=GRADE_CHOICES, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product", "serial"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["product", "serial"], name="unit_serial_per_product"),
            models.CheckConstraint(
                condition=models.Q(state=OUTSIDE, location__isnull=True)
                | (~models.Q(state=OUTSIDE) & models.Q(location__isnull=False)),
                name="unit_located_unless_outside",
                violation_error_message="A unit in stock has a location; one outside has none.",
            ),
        ]
        indexes = [
            models.Index(fields=["serial"], name="unit_serial"),
            # ATS reads a SKU's graded units (`inventory_availability_recompute`): most units
            # are new stock with no grade, which this index leaves out.
            models.Index(
                fields=["product"], condition=~models.Q(grade=""), name="unit_graded_by_product"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.state})"

    @transition(field=state, source=sources_of(S.IN_TRANSIT_RETURN), target=S.IN_TRANSIT_RETURN)
    def to_in_transit_return(self) -> None:
        """Announced as coming back to us."""

    @transition(
        field=state,
        source=sources_of(S.RECEIVED_PENDING_INSPECTION),
        target=S.RECEIVED_PENDING_INSPECTION,
    )
    def to_received_pending_inspection(self) -> None:
        """On our dock, not inspected yet."""

    @transition(field=state, source=sources_of(S.AVAILABLE), target=S.AVAILABLE)
    def to_available(self) -> None:
        """Sellable as new / restocked."""

    @transition(field=state, source=sources_of(S.RESERVED), target=S.RESERVED)
    def to_reserved(self) -> None:
        """Held for an order."""

    @transition(field=state, source=sources_of(S.QUARANTINED), target=S.QUARANTINED)
    def to_quarantined(self) -> None:
        """Held for verification; sellable nowhere."""

    @transition(field=state, source=sources_of(S.REFURBISH), target=S.REFURBISH)
    def to_refurbish(self) -> None:
        """Waiting for or in refurbishment."""

    @transition(
        field=state, source=sources_of(S.AWAITING_VENDOR_RETURN), target=S.AWAITING_VENDOR_RETURN
    )
    def to_awaiting_vendor_return(self) -> None:
        """Set aside to go back to the vendor."""

    @transition(field=state, source=sources_of(S.LIQUIDATION), target=S.LIQUIDATION)
    def to_liquidation(self) -> None:
        """Set aside for a liquidator."""

    @transition(field=state, source=sources_of(S.DAMAGED), target=S.DAMAGED)
    def to_damaged(self) -> None:
        """Found damaged."""

    @transition(field=state, source=sources_of(S.DISPOSED), target=S.DISPOSED)
    def to_disposed(self) -> None:
        """Destroyed or recycled (terminal)."""

    @transition(field=state, source=sources_of(S.VENDOR_RETURNED), target=S.VENDOR_RETURNED)
    def to_vendor_returned(self) -> None:
        """Handed back to the vendor (terminal)."""

    @transition(
        field=state,
        source=sorted(set(S.values) - {S.DISPOSED, S.VENDOR_RETURNED}),
        target=OUTSIDE,
    )
    def to_outside(self) -> None:
        """Left our stock: shipped to a customer or written off."""
