"""Parcels received at the bench and the units found in them, with the unit's state machine
(DESIGN.md: received (matched | mismatched) → inspecting → dispositioned)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from erp.models import Location, Product, Warehouse
from inventory.models import StockState


class Receipt(models.Model):
    """One parcel opened at a warehouse, against one return case (a case may come back in
    several parcels). `client_token` comes from the form that submitted it, so a double tap or
    a resubmit finds this row instead of posting again. `completes_case`: after this parcel the
    case had every unit it expects, or the operator closed it short (`closed_short`: what is
    still missing is reported, not awaited)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="receipts")
    case = models.ForeignKey(
        "returns.ReturnCase", on_delete=models.PROTECT, related_name="receipts"
    )
    client_token = models.CharField(max_length=64, unique=True)
    packaging_ok = models.BooleanField(help_text="The original packaging came back.")
    scans = models.JSONField(default=list, help_text="The codes scanned, as they were read.")
    warnings = models.JSONField(default=list, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    completes_case = models.BooleanField(default=True)
    closed_short = models.BooleanField(default=False)
    received_for = models.CharField(
        max_length=80,
        blank=True,
        help_text="Who the receipt was posted for when not at our bench (a 3PL's report).",
    )

    history = HistoricalRecords(excluded_fields=["scans", "warnings"])

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [("receive_parcel", "Can receive a return parcel at the bench")]
        indexes = [models.Index(fields=["case", "received_at"], name="receipt_case")]

    def __str__(self) -> str:
        return f"Receipt {self.pk} · {self.case}"


class UnitState(models.TextChoices):
    RECEIVED = "received", "Received"
    INSPECTING = "inspecting", "Inspected, awaiting disposition"
    DISPOSITIONED = "dispositioned", "Dispositioned"


class MatchResult(models.TextChoices):
    MATCHED = "matched", "Matched"
    MISMATCHED = "mismatched", "Mismatched"


class MismatchKind(models.TextChoices):
    """Why a unit did not match its case; each opens the exception kind in `EXCEPTION_KIND`."""

    WRONG_SKU = "wrong_sku", "Wrong SKU"
    UNKNOWN_ITEM = "unknown_item", "Unknown item"
    EXTRA_ITEM = "extra_item", "More than the case expects"
    FOREIGN_SERIAL = "foreign_serial", "Serial not shipped on this order"
    LOT_MISMATCH = "lot_mismatch", "Lot not shipped on this order"
    PACKAGING_MISSING = "packaging_missing", "Original packaging missing"
    MISSING_COMPONENTS = "missing_components", "Bundle components missing"
    MISSING_ITEMS = "missing_items", "Items of the case missing from the parcel"


class ReturnUnit(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """One physical unit taken out of a parcel. `return_line` is empty for an item the case
    does not expect; `product` is empty for an item no GTIN of ours names (no stock can be
    posted for it: it waits in the quarantine cage for the exception to be worked).
    `location` / `stock_state` mirror where the ledger holds the unit now."""

    State = UnitState

    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="units")
    case = models.ForeignKey(
        "returns.ReturnCase", on_delete=models.PROTECT, related_name="warehouse_units"
    )
    return_line = models.ForeignKey(
        "returns.ReturnLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="warehouse_units",
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, null=True, blank=True, related_name="return_units"
    )
    scanned_code = models.CharField(max_length=200)
    serial = models.CharField(max_length=80, blank=True)
    lot = models.CharField(max_length=40, blank=True)
    expiry = models.DateField(null=True, blank=True)
    match = models.CharField(max_length=12, choices=MatchResult.choices)
    mismatch_kinds = models.JSONField(default=list, blank=True)
    state = FSMField(
        max_length=20, choices=UnitState.choices, default=UnitState.RECEIVED, protected=True
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stock_state = models.CharField(
        max_length=32, choices=StockState.choices, blank=True, help_text="Empty: not on the books."
    )
    serial_verified = models.BooleanField(default=False)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    dispositioned_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["mismatch_kinds"])

    class Meta:
        ordering = ["receipt", "id"]
        permissions = [
            ("inspect_unit", "Can inspect a returned unit"),
            ("disposition_unit", "Can disposition a returned unit"),
            ("override_disposition", "Can override a suggested disposition (with a reason)"),
        ]
        indexes = [
            models.Index(fields=["case", "state"], name="return_unit_case"),
            models.Index(fields=["state", "received_at"], name="return_unit_queue"),
        ]

    def __str__(self) -> str:
        what = self.product.sku if self.product_id else self.scanned_code
        return f"{what} {self.serial}".strip()

    @property
    def is_matched(self) -> bool:
        return self.match == MatchResult.MATCHED

    @property
    def is_quarantined(self) -> bool:
        return self.stock_state == StockState.QUARANTINED

    # ---- Transitions: they only assign fields; `warehouse.services` calls them. -----------

    @transition(
        field=state,
        source=UnitState.RECEIVED,
        target=UnitState.INSPECTING,
        permission="warehouse.inspect_unit",
    )
    def inspect(self) -> None:
        """Inspected; a disposition comes next."""

    @transition(
        field=state,
        source=[UnitState.INSPECTING, UnitState.DISPOSITIONED],
        target=UnitState.DISPOSITIONED,
        permission="warehouse.disposition_unit",
    )
    def disposition(self, *, at) -> None:
        """Decided (again, after a hold or a quarantine release)."""
        self.dispositioned_at = at
