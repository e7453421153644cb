"""Cycle counts: plans that say what to count and when, blind counts per location on the
tablet, and the lines a reviewer approves (posted to the ledger) or sends back for recount."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from erp.models import Location, Product, Warehouse


class PlanKind(models.TextChoices):
    LOCATIONS = "locations", "By location"
    SKUS = "skus", "By SKU set"
    ABC = "abc", "By ABC class (stock value)"
    RETURNS_TOUCHED = "returns_touched", "Locations touched by returns since the last count"


class AbcClass(models.TextChoices):
    A = "A", "A (top 80% of stock value)"
    B = "B", "B (next 15%)"
    C = "C", "C (last 5%)"


class CountPlan(models.Model):
    """What to count in one warehouse, by whom, and how often (`every_days` empty: ad hoc).

    The scheduler opens a count from each active plan whose `next_due_at` has passed."""

    name = models.CharField(max_length=120)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=PlanKind.choices, default=PlanKind.LOCATIONS)
    locations = models.ManyToManyField(Location, blank=True, related_name="+")
    products = models.ManyToManyField(Product, blank=True, related_name="+")
    abc_class = models.CharField(max_length=1, choices=AbcClass.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    every_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: counted only when started by hand."
    )
    next_due_at = models.DateTimeField(null=True, blank=True)
    tolerance_units = models.PositiveIntegerField(
        default=0,
        help_text="A line off by more than this many units and the percentage below is "
        "recounted once.",
    )
    tolerance_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Percentage of the line's system quantity it may be off by without a recount.",
    )
    approval_limit = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("500.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Net variance value above which an operations manager must approve.",
    )
    is_active = models.BooleanField(default=True)
    last_counted_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse", "name"]

    def __str__(self) -> str:
        return self.name


class CountState(models.TextChoices):
    OPEN = "open", "Counting"
    REVIEW = "review", "In review"
    POSTED = "posted", "Posted"
    CANCELLED = "cancelled", "Cancelled"


class CycleCount(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """One count: its locations are counted blind, then reviewed line by line."""

    plan = models.ForeignKey(
        CountPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="counts"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    state = FSMField(
        max_length=10, choices=CountState.choices, default=CountState.OPEN, protected=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    product_filter = models.JSONField(
        default=list, blank=True, help_text="Product ids the count is limited to (empty: all)."
    )
    # A line is recounted when off by more than both: the units, and the percentage of its
    # system quantity (so a pallet of 400 is not recounted for one carton of difference).
    tolerance_units = models.PositiveIntegerField(default=0)
    tolerance_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    approval_limit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("500"))
    submitted_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    snapshot_id = models.BigIntegerField(
        null=True, blank=True, help_text="The reconciliation snapshot this count recorded last."
    )

    history = HistoricalRecords(excluded_fields=["product_filter"])

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("count_stock", "Can count stock on the tablet"),
            ("approve_count", "Can approve count variances within the approval limit"),
            ("approve_count_over_limit", "Can approve count variances above the approval limit"),
        ]

    def __str__(self) -> str:
        return f"Count {self.pk}"

    @transition(field=state, source=CountState.OPEN, target=CountState.REVIEW)
    def submit(self) -> None:
        self.submitted_at = timezone.now()

    @transition(field=state, source=CountState.REVIEW, target=CountState.OPEN)
    def reopen(self) -> None:
        self.submitted_at = None

    @transition(field=state, source=CountState.REVIEW, target=CountState.POSTED)
    def post(self) -> None:
        self.posted_at = timezone.now()

    @transition(
        field=state, source=[CountState.OPEN, CountState.REVIEW], target=CountState.CANCELLED
    )
    def cancel(self) -> None:
        pass


class CountLocation(models.Model):
    """One location of a count. `snapshot_at` is when the counter opened it: the system
    quantity it is compared with is the ledger's at that moment, so stock may keep moving."""

    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="locations")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    snapshot_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["count", "location__code"]
        constraints = [
            models.UniqueConstraint(fields=["count", "location"], name="count_location_unique")
        ]

    def __str__(self) -> str:
        return f"{self.count} · {self.location}"


class LineStatus(models.TextChoices):
    COUNTED = "counted", "Counted"
    RECOUNT = "recount", "Recount requested"
    APPROVED = "approved", "Approved"
    POSTED = "posted", "Posted"
    # Approved, but the ledger cannot take it: a serial found that the books say was disposed
    # of or is on its way back from a customer. An exception says what to find out.
    HELD = "held", "Held for investigation"


class SerialOutcome(models.TextChoices):
    FOUND = "found", "Found"
    MISSING = "missing", "Missing"
    UNEXPECTED = "unexpected", "Unexpected"


class CountLine(models.Model):
    """One SKU (lot, serial) at one counted location. `system_qty` is filled at submission,
    never before, and never shown to the counter."""

    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="lines")
    count_location = models.ForeignKey(
        CountLocation, on_delete=models.CASCADE, related_name="lines"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    lot = models.CharField(max_length=40, blank=True, default="")
    serial = models.CharField(max_length=80, blank=True, default="")
    counted_qty = models.PositiveIntegerField(null=True, blank=True)
    system_qty = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=LineStatus.choices, default=LineStatus.COUNTED)
    serial_outcome = models.CharField(max_length=12, choices=SerialOutcome.choices, blank=True)
    round = models.PositiveSmallIntegerField(default=1)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    recount_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["count_location", "product", "lot", "serial"]
        constraints = [
            models.UniqueConstraint(
                fields=["count_location", "product", "lot", "serial"], name="count_line_unique"
            )
        ]
        indexes = [models.Index(fields=["count", "status"], name="count_line_status")]

    def __str__(self) -> str:
        return f"{self.count_location} · {self.product_id} {self.lot}{self.serial}"

    @property
    def variance(self) -> int | None:
        if self.system_qty is None or self.counted_qty is None:
            return None
        return self.counted_qty - self.system_qty

    @property
    def variance_value(self) -> Decimal | None:
        if self.variance is None or self.unit_cost is None:
            return None
        return self.variance * self.unit_cost


class CountEntry(models.Model):
    """One submission from the tablet; its client token makes a resend a no-op."""

    line = models.ForeignKey(CountLine, on_delete=models.CASCADE, related_name="entries")
    client_token = models.CharField(max_length=64, unique=True)
    qty = models.PositiveIntegerField()
    round = models.PositiveSmallIntegerField(default=1)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    counted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["counted_at", "id"]

    def __str__(self) -> str:
        return f"{self.line} +{self.qty}"


class CountApproval(models.Model):
    """Who approved (or sent back) which lines of a count, and the value they carried."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Sent back for recount"

    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="approvals")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    lines = models.PositiveIntegerField()
    net_value = models.DecimalField(max_digits=14, decimal_places=2)
    abs_value = models.DecimalField(max_digits=14, decimal_places=2)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    client_token = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.count} {self.decision} by {self.decided_by_id}"
