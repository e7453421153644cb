"""The exception queue: problems a person must look at, with an owner role, an SLA and a
state machine. Every app opens them through `erp.services.exception_open`."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from erp.roles import Role

from .catalog import Product
from .orders import SalesOrder

MANAGE_PERMISSION = "erp.manage_exceptions"


class ExceptionKind(models.TextChoices):
    SKU_MISMATCH = "sku_mismatch", "SKU mismatch"
    MISSING_COMPONENTS = "missing_components", "Missing components"
    PACKAGING_MISSING = "packaging_missing", "Packaging missing"
    SERIAL_MISMATCH = "serial_mismatch", "Serial mismatch"
    FRAUD_REVIEW = "fraud_review", "Fraud review"
    DAMAGED_IN_TRANSIT = "damaged_in_transit", "Damaged in transit"
    CHANNEL_DISPUTE = "channel_dispute", "Channel dispute"
    LATE_3PL_DISPOSITION = "late_3pl_disposition", "Late 3PL disposition"
    RECONCILIATION_VARIANCE = "reconciliation_variance", "Reconciliation variance"
    REFUND_FAILURE = "refund_failure", "Refund failure"
    INVESTIGATE_SKU = "investigate_sku", "Investigate SKU"


class SubjectType(models.TextChoices):
    """What an exception is about; `subject_id` is that thing's id in its own app."""

    RETURN_CASE = "return_case", "Return case"
    INVENTORY_UNIT = "inventory_unit", "Inventory unit"
    PRODUCT = "product", "Product (SKU)"
    VARIANCE = "variance", "Reconciliation variance"
    REFUND = "refund", "Refund"
    ORDER = "order", "Sales order"
    INBOUND_EVENT = "inbound_event", "Inbound event"


class ExceptionState(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class ResolutionOutcome(models.TextChoices):
    """What a resolution concluded, for the kinds whose subject waits on a verdict: a higher
    app's resolution handler reads it to move the subject on (e.g. a held return case)."""

    CLEARED = "cleared", "Cleared: the subject goes ahead"
    CONFIRMED = "confirmed", "Confirmed: the subject is refused"


# The kinds resolved with a verdict; any other kind is resolved with a reason alone.
OUTCOME_KINDS = {
    ExceptionKind.FRAUD_REVIEW: {
        ResolutionOutcome.CLEARED: "Cleared: genuine, the return goes ahead",
        ResolutionOutcome.CONFIRMED: "Fraud confirmed: the return is rejected",
    },
}


# Still waiting for someone: these hold a subject open and count against the SLA.
ACTIVE_STATES = (ExceptionState.OPEN, ExceptionState.ASSIGNED, ExceptionState.ESCALATED)
CLOSED_STATES = (ExceptionState.RESOLVED, ExceptionState.DISMISSED)


@dataclass(frozen=True)
class KindDefaults:
    sla_hours: int
    owner_role: Role


# The one table of who owns each kind and how long they have before it escalates.
KIND_DEFAULTS: dict[ExceptionKind, KindDefaults] = {
    ExceptionKind.SKU_MISMATCH: KindDefaults(24, Role.WAREHOUSE),
    ExceptionKind.MISSING_COMPONENTS: KindDefaults(24, Role.WAREHOUSE),
    ExceptionKind.PACKAGING_MISSING: KindDefaults(48, Role.WAREHOUSE),
    ExceptionKind.SERIAL_MISMATCH: KindDefaults(24, Role.WAREHOUSE),
    ExceptionKind.FRAUD_REVIEW: KindDefaults(12, Role.OPERATIONS_MANAGER),
    ExceptionKind.DAMAGED_IN_TRANSIT: KindDefaults(48, Role.CUSTOMER_SERVICE),
    ExceptionKind.CHANNEL_DISPUTE: KindDefaults(24, Role.CUSTOMER_SERVICE),
    ExceptionKind.LATE_3PL_DISPOSITION: KindDefaults(72, Role.OPERATIONS_MANAGER),
    ExceptionKind.RECONCILIATION_VARIANCE: KindDefaults(48, Role.OPERATIONS_MANAGER),
    ExceptionKind.REFUND_FAILURE: KindDefaults(8, Role.FINANCE),
    ExceptionKind.INVESTIGATE_SKU: KindDefaults(72, Role.OPERATIONS_MANAGER),
}


class ExceptionCase(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """One problem about one subject. At most one is active per (kind, subject), so the same
    problem reported twice lands on the same row (see `exception_open`)."""

    Kind = ExceptionKind
    SubjectType = SubjectType
    State = ExceptionState

    kind = models.CharField(max_length=40, choices=ExceptionKind.choices)
    subject_type = models.CharField(max_length=30, choices=SubjectType.choices)
    subject_id = models.CharField(max_length=64)
    subject_label = models.CharField(
        max_length=200, blank=True, help_text="How people name the subject, e.g. an RMA number."
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    sales_order = models.ForeignKey(
        SalesOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    summary = models.CharField(max_length=200)
    details = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    owner_role = models.CharField(max_length=30, choices=Role.choices)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_exceptions",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system opened it.",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    sla_due_at = models.DateTimeField("SLA due")
    escalated_at = models.DateTimeField(null=True, blank=True)
    state = FSMField(
        max_length=20, choices=ExceptionState.choices, default=ExceptionState.OPEN, protected=True
    )
    resolution_reason = models.TextField("reason", blank=True)
    outcome = models.CharField(
        max_length=20,
        choices=ResolutionOutcome.choices,
        blank=True,
        help_text="The verdict of a resolution, for kinds that need one (OUTCOME_KINDS).",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["evidence", "details"])

    class Meta:
        ordering = ["sla_due_at", "opened_at"]
        verbose_name = "exception"
        permissions = [
            ("manage_exceptions", "Can assign, escalate, resolve and dismiss exceptions"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id"],
                condition=models.Q(state__in=ACTIVE_STATES),
                name="exception_one_active_per_subject",
                violation_error_message="This problem is already open for this subject.",
            ),
            models.CheckConstraint(
                condition=~models.Q(state__in=CLOSED_STATES) | ~models.Q(resolution_reason=""),
                name="exception_closed_with_reason",
                violation_error_message="A resolved or dismissed exception states why.",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "sla_due_at"], name="exception_queue"),
            models.Index(fields=["subject_type", "subject_id"], name="exception_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_label or self.subject_id}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_overdue(self) -> bool:
        return self.is_active and self.sla_due_at < timezone.now()

    @staticmethod
    def default_sla_due(kind: str, opened_at: datetime) -> datetime:
        return opened_at + timedelta(hours=KIND_DEFAULTS[ExceptionKind(kind)].sla_hours)

    # ---- Transitions: they only assign fields; `erp.services` calls them. ----------------

    @transition(
        field=state,
        source=list(ACTIVE_STATES),
        target=RETURN_VALUE(ExceptionState.ASSIGNED, ExceptionState.ESCALATED),
        permission=MANAGE_PERMISSION,
    )
    def assign(self, *, assignee) -> str:
        """Give it to someone; an escalated exception stays escalated."""
        self.assignee = assignee
        if self.state == ExceptionState.ESCALATED:
            return ExceptionState.ESCALATED
        return ExceptionState.ASSIGNED

    @transition(
        field=state,
        source=[ExceptionState.OPEN, ExceptionState.ASSIGNED],
        target=ExceptionState.ESCALATED,
        permission=MANAGE_PERMISSION,
    )
    def escalate(self, *, at) -> None:
        self.escalated_at = at

    @transition(
        field=state,
        source=list(ACTIVE_STATES),
        target=ExceptionState.RESOLVED,
        permission=MANAGE_PERMISSION,
    )
    def resolve(self, *, by, at, reason: str, outcome: str = "") -> None:
        self.resolution_reason = reason
        self.outcome = outcome
        self.resolved_by = by
        self.resolved_at = at

    @transition(
        field=state,
        source=list(ACTIVE_STATES),
        target=ExceptionState.DISMISSED,
        permission=MANAGE_PERMISSION,
    )
    def dismiss(self, *, by, at, reason: str) -> None:
        self.resolution_reason = reason
        self.resolved_by = by
        self.resolved_at = at


class ExceptionNote(models.Model):
    """A remark on an exception's timeline; `author` is empty for the system's own notes."""

    exception = models.ForeignKey(ExceptionCase, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]
