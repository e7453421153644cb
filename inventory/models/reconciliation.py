"""Reconciliation: what external systems say we hold (snapshots), how it differs from the ledger
(variances, split into explained and unexplained), the tolerances that decide what a person must
look at, and the runs that compute it all.

A snapshot is never changed or replaced: a newer one is another row. Variances are the current
comparison per key (source x SKU x warehouse or channel x bucket); each run also writes one
trend point per source, which is the history the control tower charts.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from erp.models import Category, Channel, Product, Warehouse


class SnapshotSource(models.TextChoices):
    SHIPHERO = "shiphero", "ShipHero"
    SHIPBOB = "shipbob", "ShipBob"
    EXTENSIV = "extensiv", "Extensiv"
    AMAZON_FBA = "amazon_fba", "Amazon FBA"
    STOREFRONT = "storefront", "Storefront (acknowledged ATS)"
    CYCLE_COUNT = "cycle_count", "Cycle count (our own physical count)"


class SnapshotScope(models.TextChoices):
    """What a snapshot's silence means."""

    FULL = "full", "Full (a SKU it does not list holds nothing)"
    PARTIAL = "partial", "Partial (only the SKUs it lists)"
    DELTA = "delta", "Delta (a change, kept as evidence)"


class Bucket(models.TextChoices):
    """Which figure is compared. Sellable = our `available` state (the 3PL's available /
    Amazon's fulfillable); on hand = every state physically in the warehouse; ATS = what a
    channel was last told it may sell."""

    SELLABLE = "sellable", "Sellable"
    ON_HAND = "on_hand", "On hand"
    ATS = "ats", "Channel ATS"


class VarianceStatus(models.TextChoices):
    MATCHED = "matched", "Matched"
    EXPLAINED = "explained", "Explained by in-flight events"
    WITHIN_TOLERANCE = "within_tolerance", "Within tolerance"
    OVER_TOLERANCE = "over_tolerance", "Over tolerance"


class RunKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The 3PL sources: each reports on the warehouses it operates (Warehouse.provider).
THREEPL_SOURCES = frozenset(
    {SnapshotSource.SHIPHERO, SnapshotSource.SHIPBOB, SnapshotSource.EXTENSIV}
)


class ExternalLocation(models.Model):
    """How a source names one of our warehouses (a ShipHero warehouse id, a ShipBob
    fulfillment center, an Amazon marketplace)."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices)
    external_code = models.CharField(
        max_length=120, blank=True, help_text="Empty: the source's only location."
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    # The operations screen's submission token of the last change (kept per version in the
    # history): a form sent twice is recognised and saved once.
    client_token = models.CharField(max_length=64, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["source", "external_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_code"], name="external_location_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.external_code or '(default)'} → {self.warehouse}"

    def clean(self) -> None:
        if self.source == SnapshotSource.STOREFRONT:
            raise ValidationError(
                {
                    "source": "The storefront reports ATS per channel, not per warehouse: "
                    "it needs no warehouse mapping."
                }
            )
        if self.source in THREEPL_SOURCES and self.warehouse_id is not None:
            warehouse = self.warehouse
            if warehouse.operator != Warehouse.Operator.THIRD_PARTY or (
                warehouse.provider != self.source
            ):
                raise ValidationError(
                    {
                        "warehouse": f"{self.get_source_display()} reports only on warehouses "
                        f"it operates; {warehouse} is "
                        + (
                            f"operated by {warehouse.get_provider_display()}."
                            if warehouse.provider
                            else "our own."
                        )
                    }
                )


class ExternalSnapshot(models.Model):
    """What one source said it held at `taken_at`. Append-only: a new one never overwrites."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices)
    external_ref = models.CharField(
        max_length=200, help_text="The source's id for this report (or a digest of it)."
    )
    scope = models.CharField(
        max_length=10, choices=SnapshotScope.choices, default=SnapshotScope.FULL
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when a feed recorded it.",
    )
    line_count = models.PositiveIntegerField(default=0)
    unmatched = models.JSONField(
        default=list, blank=True, help_text="Lines whose SKU or location we do not know."
    )
    reports_on_hand = models.BooleanField(default=True)
    reports_sellable = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        default_permissions = ("view",)
        permissions = [
            ("import_inventoryreport", "Can import marketplace inventory reports"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_ref"], name="snapshot_ref_unique_per_source"
            )
        ]
        indexes = [models.Index(fields=["source", "taken_at"], name="snapshot_source_time")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.external_ref} @ {self.taken_at:%Y-%m-%d %H:%M}"


class ExternalSnapshotHead(models.Model):
    """The newest full snapshot of each (source, warehouse): the one variances compare with.
    A pointer only; the snapshots themselves never change."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="+")
    snapshot = models.ForeignKey(ExternalSnapshot, on_delete=models.CASCADE, related_name="+")
    taken_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["source", "warehouse"], name="snapshot_head_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}@{self.warehouse_id}: {self.snapshot_id}"


class ExternalSnapshotLine(models.Model):
    """One SKU at one of our warehouses as the source counts it.

    Written only by `snapshot_record`, which resolves every id in its own transaction, and
    never changed: the foreign keys carry no database constraint, whose deferred per-row
    checks at commit were most of the cost of recording a large report.
    """

    snapshot = models.ForeignKey(
        ExternalSnapshot, on_delete=models.CASCADE, related_name="lines", db_constraint=False
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    lot = models.CharField(max_length=40, blank=True, default="")
    on_hand = models.BigIntegerField(null=True, blank=True)
    sellable = models.BigIntegerField(null=True, blank=True)
    reserved = models.BigIntegerField(null=True, blank=True)
    on_hold = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["snapshot", "id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["product", "warehouse", "snapshot"], name="snapshot_line_key"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.warehouse_id}: {self.on_hand}/{self.sellable}"


class ReconciliationTolerance(models.Model):
    """How much unexplained variance is acceptable. A variance is over tolerance only when it
    exceeds every allowance set here; the most specific row (source and category, then
    source, then category, then neither) applies."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    units = models.PositiveIntegerField(default=0, help_text="Unexplained units allowed.")
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[
            MinValueValidator(Decimal("0")),
            MaxValueValidator(
                Decimal("100"), message="A percentage of our quantity is at most 100."
            ),
        ],
        help_text="Unexplained units as a percentage of our quantity.",
    )
    value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Unexplained units × unit cost.",
    )
    # The operations screen's submission token of the last change (kept per version in the
    # history): a form sent twice is recognised and saved once.
    client_token = models.CharField(max_length=64, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["source", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "category"],
                name="tolerance_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        where = " / ".join(
            part for part in (self.get_source_display(), str(self.category or "")) if part
        )
        return f"{where or 'Default'}: {self.units} u, {self.percent} %, {self.value}"


class ReconciliationRun(models.Model):
    """One computation of variances: every key (full) or the keys touched since the last one
    (incremental). Progress is counted in keys; a full run resumes from `cursor`."""

    kind = models.CharField(max_length=12, choices=RunKind.choices)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the schedule started it.",
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    keys_total = models.PositiveIntegerField(default=0)
    keys_done = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(
        default=0, help_text="Products up to this id are done (full runs resume after it)."
    )
    movement_watermark = models.BigIntegerField(
        default=0, help_text="Movements up to this id were considered."
    )
    variances = models.PositiveIntegerField(default=0, help_text="Keys with any difference.")
    unexplained = models.PositiveIntegerField(default=0, help_text="Keys over tolerance.")
    exceptions_opened = models.PositiveIntegerField(default=0)
    exceptions_resolved = models.PositiveIntegerField(default=0)
    product_ids = models.JSONField(default=list, blank=True, help_text="Incremental: the SKUs.")
    plan = models.JSONField(
        default=list, blank=True, help_text="Full: the chunks, [first id, last id, keys]."
    )
    chunk_keys = models.PositiveIntegerField(
        default=20000, help_text="Full: about how many keys one chunk (one transaction) holds."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        permissions = [("run_reconciliation", "Can start a full reconciliation run")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run #{self.pk} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def percent_done(self) -> int:
        if not self.keys_total:
            return 100 if self.status == RunStatus.SUCCEEDED else 0
        return min(100, self.keys_done * 100 // self.keys_total)

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)


class ReconciliationVariance(models.Model):
    """The current comparison of one key. difference = external - ours = explained +
    unexplained; the explained part is the sum of the in-flight components, capped to the
    difference and of the same sign."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices)
    bucket = models.CharField(max_length=10, choices=Bucket.choices)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", db_index=False)
    scope_id = models.BigIntegerField(help_text="The warehouse's id, or the channel's for ATS.")
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    snapshot = models.ForeignKey(
        ExternalSnapshot, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(help_text="When the external figure was true.")
    erp_qty = models.BigIntegerField()
    external_qty = models.BigIntegerField()
    difference = models.BigIntegerField()
    after_snapshot = models.BigIntegerField(
        default=0, help_text="−(our movements into the bucket after taken_at)."
    )
    pending_disposition = models.BigIntegerField(
        default=0, help_text="Received by the 3PL, disposition not reported yet."
    )
    in_transit = models.BigIntegerField(default=0, help_text="Returns in transit to it.")
    unacknowledged = models.BigIntegerField(
        default=0, help_text="ATS pushed but not acknowledged by the channel yet."
    )
    explained = models.BigIntegerField(default=0)
    unexplained = models.BigIntegerField(default=0)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2)
    unexplained_value = models.DecimalField(max_digits=16, decimal_places=2)
    status = models.CharField(max_length=20, choices=VarianceStatus.choices)
    unexplained_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when some of it is unexplained (aging)."
    )
    computed_at = models.DateTimeField()
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    exception = models.ForeignKey(
        "erp.ExceptionCase",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The exception opened when it went over tolerance; cleared when it clears.",
    )

    class Meta:
        ordering = ["source", "product", "scope_id", "bucket"]
        default_permissions = ("view",)
        permissions = [
            ("accept_variance", "Can accept a variance as a stock correction"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "bucket", "product", "scope_id"], name="variance_key_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(difference=models.F("explained") + models.F("unexplained")),
                name="variance_parts_add_up",
                violation_error_message="Explained and unexplained add up to the difference.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "source"], name="variance_status"),
            models.Index(fields=["product", "scope_id"], name="variance_product"),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.bucket} {self.product_id}@{self.scope_id}: {self.difference}"


# A variance's figures: a run that finds them all as on file does not write the row again
# (most rows, run after run), so it keeps its computed_at and run.
VARIANCE_FIGURES = (
    "warehouse_id",
    "channel_id",
    "snapshot_id",
    "taken_at",
    "erp_qty",
    "external_qty",
    "difference",
    "after_snapshot",
    "pending_disposition",
    "in_transit",
    "unacknowledged",
    "explained",
    "unexplained",
    "unit_cost",
    "unexplained_value",
    "status",
)


class VarianceTrendPoint(models.Model):
    """Per source, at the end of a run: the total variance, for the control tower's chart."""

    source = models.CharField(max_length=20, choices=SnapshotSource.choices)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="trend")
    at = models.DateTimeField()
    keys = models.PositiveIntegerField(default=0)
    variance_units = models.BigIntegerField(default=0, help_text="Σ |difference|.")
    unexplained_units = models.BigIntegerField(default=0, help_text="Σ |unexplained|.")
    unexplained_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    over_tolerance = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["source", "at"], name="trend_source_time")]

    def __str__(self) -> str:
        return f"{self.source} @ {self.at:%Y-%m-%d %H:%M}: {self.unexplained_units}"


class VarianceCorrection(models.Model):
    """A manager accepted the external figure: the adjustment posted for it."""

    variance = models.ForeignKey(
        ReconciliationVariance, on_delete=models.PROTECT, related_name="corrections"
    )
    qty_delta = models.BigIntegerField()
    location = models.ForeignKey("erp.Location", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=32)
    reason = models.TextField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=180, unique=True)

    class Meta:
        ordering = ["-accepted_at"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.qty_delta:+d} for variance {self.variance_id}"
