"""Realized recovery: money that came back for a dispositioned unit — a vendor's credit for a
unit returned to them, or a liquidator's payment. Written by `finance.services.recovery` only,
with the journal entry it posted.

A recovery refers to its disposition by a string label ("warehouse.Disposition"): finance sits
below warehouse and never imports it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 12, "decimal_places": 2}


class RecoveryKind(models.TextChoices):
    VENDOR_CREDIT = "vendor_credit", "Vendor credit (return to vendor)"
    LIQUIDATION_SALE = "liquidation_sale", "Liquidation sale"


# Which disposition outcome each kind of recovery is for (warehouse.Outcome values).
OUTCOME_OF_KIND = {
    RecoveryKind.VENDOR_CREDIT: "vendor_return",
    RecoveryKind.LIQUIDATION_SALE: "liquidation",
}


class RealizedRecovery(models.Model):
    disposition = models.ForeignKey(
        "warehouse.Disposition", on_delete=models.PROTECT, related_name="realized_recoveries"
    )
    kind = models.CharField(max_length=20, choices=RecoveryKind.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reference = models.CharField(
        max_length=120, help_text="The vendor's credit note or the liquidator's invoice number."
    )
    occurred_on = models.DateField(help_text="The day the credit or payment was received.")
    journal_entry = models.ForeignKey(
        "finance.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    client_token = models.CharField(
        max_length=64, unique=True, help_text="A resubmitted form records it once."
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name_plural = "realized recoveries"
        default_permissions = ("view",)
        permissions = [("record_recovery", "Can record a vendor credit or liquidation sale")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="realized_recovery_positive",
                violation_error_message="A recovery is a positive amount.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.reference})"
