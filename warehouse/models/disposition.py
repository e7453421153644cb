"""Disposition: the rules that suggest an outcome, the decisions taken, and the put-away task
each decision leaves for the bench."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from erp.models import Category, Channel, Location, ReasonCode

from .inspection import Grade
from .receiving import ReturnUnit


class Outcome(models.TextChoices):
    RESTOCK = "restock", "Restock"
    REFURBISH = "refurbish", "Refurbish"
    QUARANTINE = "quarantine", "Quarantine"
    VENDOR_RETURN = "vendor_return", "Return to vendor"
    LIQUIDATION = "liquidation", "Liquidate"
    DISPOSE = "dispose", "Dispose"
    HOLD = "hold", "Hold, decide later"


class RecoveryBasis(models.TextChoices):
    RESALE_PRICE = "resale_price", "Resale at list price"
    RESALE_COST = "resale_cost", "Resale at cost"
    VENDOR_CREDIT = "vendor_credit", "Vendor credit"
    LIQUIDATION_PRICE = "liquidation_price", "Liquidation price"
    NONE = "none", "No recovery"


class DispositionRule(models.Model):
    """Grade, department/category, reason and policy (channel kind) → suggested outcome.

    Blank criteria match anything; the matching active rule with the highest priority wins,
    then the more specific one, then the older one (warehouse.rules)."""

    name = models.CharField(max_length=120)
    priority = models.IntegerField(default=0, help_text="Higher wins.")
    grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    department = models.CharField(max_length=20, choices=Category.Department.choices, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_group = models.CharField(max_length=20, choices=ReasonCode.Group.choices, blank=True)
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel_kind = models.CharField(
        max_length=20,
        choices=Channel.Kind.choices,
        blank=True,
        help_text="The return policy of the channel kind (e.g. marketplace returns).",
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-priority", "id"]
        default_permissions = ("view",)
        permissions = [("change_disposition_rules", "Can change disposition rules")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(outcome="hold"),
                name="disposition_rule_decides",
                violation_error_message="A rule suggests an outcome; holding is a person's call.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.get_outcome_display()}"

    # What a unit must be for the rule to apply, in the order the form and the list show it.
    CRITERIA = ("grade", "department", "category", "reason_group", "reason_code", "channel_kind")

    def criteria_labels(self) -> list[str]:
        """The criteria the rule sets, as the rule list shows them (none: any unit)."""
        labels = []
        if self.grade:
            labels.append(f"grade {self.grade}")
        if self.department:
            labels.append(self.get_department_display())
        if self.category_id:
            labels.append(self.category.name)
        if self.reason_group:
            labels.append(self.get_reason_group_display())
        if self.reason_code_id:
            labels.append(self.reason_code.code)
        if self.channel_kind:
            labels.append(self.get_channel_kind_display())
        return labels

    @property
    def specificity(self) -> int:
        criteria = (
            self.grade,
            self.department,
            self.category_id,
            self.reason_group,
            self.reason_code_id,
            self.channel_kind,
        )
        return sum(1 for criterion in criteria if criterion)


class DispositionRuleEdit(models.Model):
    """One save of a disposition rule from the rule form: who, when, why, and the form's
    client token, so a double submit saves once (and a new rule is created once)."""

    rule = models.ForeignKey(DispositionRule, on_delete=models.PROTECT, related_name="edits")
    client_token = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-edited_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.rule} edited by {self.edited_by_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class Disposition(models.Model):
    """One decision on a unit; a unit on hold or released from quarantine gets another, so
    its current disposition is its latest. `rule` suggested `suggested_outcome`; a different
    `outcome` is an override, which names who and why."""

    unit = models.ForeignKey(ReturnUnit, on_delete=models.PROTECT, related_name="dispositions")
    suggested_outcome = models.CharField(max_length=20, choices=Outcome.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    rule = models.ForeignKey(
        DispositionRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    explanation = models.CharField(max_length=300)
    overridden = models.BooleanField(default=False)
    override_reason = models.TextField(blank=True)
    expected_recovery = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    recovery_basis = models.CharField(max_length=20, choices=RecoveryBasis.choices)
    currency = models.CharField(max_length=3, blank=True)
    to_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    client_token = models.CharField(max_length=64, unique=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["unit", "-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overridden=False) | ~models.Q(override_reason=""),
                name="disposition_override_says_why",
                violation_error_message="An override states its reason.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit} → {self.get_outcome_display()}"


class PutawayTask(models.Model):
    """Carry a dispositioned unit to its destination. The ledger already holds it there; the
    task is the bench's to-do and its proof (who, when). Completing a disposal task posts the
    unit out of stock (damaged → disposed)."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    disposition = models.OneToOneField(
        Disposition, on_delete=models.PROTECT, related_name="putaway_task"
    )
    unit = models.ForeignKey(ReturnUnit, on_delete=models.PROTECT, related_name="putaway_tasks")
    to_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("complete_putaway", "Can complete a put-away task")]
        indexes = [models.Index(fields=["state", "created_at"], name="putaway_queue")]

    def __str__(self) -> str:
        return f"Put {self.unit} at {self.to_location}"
