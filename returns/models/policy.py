"""Return policy as data: versioned rule sets whose rules key on the order line being returned.

A rule set is drafted, then published; publishing retires the previous version. Cases keep a
foreign key to the rule that decided them and a snapshot of the decision, so publishing a new
version never changes a decision already made. Rules of a published set are never edited.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from erp.models import Category, Channel, Customer, ReasonCode


class DecisionKind(models.TextChoices):
    AUTO_AUTHORIZE = "auto_authorize", "Authorize automatically"
    MANUAL_REVIEW = "manual_review", "Hold for manual review"
    DENY = "deny", "Deny"


class RefundTrigger(models.TextChoices):
    ON_AUTHORIZATION = "on_authorization", "On authorization"
    ON_RECEIPT = "on_receipt", "On receipt at the warehouse"
    ON_INSPECTION = "on_inspection", "On inspection"


class Resolution(models.TextChoices):
    REFUND = "refund", "Refund to original payment"
    STORE_CREDIT = "store_credit", "Store credit"
    EXCHANGE = "exchange", "Exchange"


class ShippingPaidBy(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    MERCHANT = "merchant", "Merchant (prepaid label)"


class WarrantyStatus(models.TextChoices):
    IN_WARRANTY = "in_warranty", "In warranty"
    OUT_OF_WARRANTY = "out_of_warranty", "Out of warranty"
    NO_WARRANTY = "no_warranty", "No warranty"


class PolicyRuleSet(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=120)
    notes = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-version"]
        verbose_name = "policy rule set"
        permissions = [("publish_return_policy", "Can publish a return policy rule set")]
        constraints = [
            models.UniqueConstraint(
                fields=["state"],
                condition=models.Q(state="published"),
                name="policy_one_published_rule_set",
                violation_error_message="Only one rule set is published at a time.",
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version} · {self.name} ({self.get_state_display().lower()})"


PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class PolicyRule(models.Model):
    """One rule: criteria (blank means "any") and the outcome when it decides.

    Precedence (returns.policy): the matching rule with the highest `priority` decides; among
    equal priorities the more specific one (more criteria set) wins; then the older rule.
    """

    rule_set = models.ForeignKey(PolicyRuleSet, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=120)
    priority = models.IntegerField(default=0, help_text="Higher wins.")

    # Criteria: blank / null matches anything.
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    region = models.CharField(max_length=8, blank=True)
    department = models.CharField(max_length=20, choices=Category.Department.choices, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    customer_segment = models.CharField(max_length=20, choices=Customer.Segment.choices, blank=True)
    warranty_status = models.CharField(max_length=20, choices=WarrantyStatus.choices, blank=True)
    min_order_age_days = models.PositiveIntegerField(null=True, blank=True)
    max_order_age_days = models.PositiveIntegerField(null=True, blank=True)
    min_item_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    max_item_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    # Outcome.
    ineligible_reason = models.CharField(
        max_length=200, blank=True, help_text="Shown to the agent when the rule denies."
    )
    return_window_days = models.PositiveIntegerField(default=30)
    decision = models.CharField(
        max_length=20, choices=DecisionKind.choices, default=DecisionKind.AUTO_AUTHORIZE
    )
    refund_trigger = models.CharField(
        max_length=20, choices=RefundTrigger.choices, default=RefundTrigger.ON_INSPECTION
    )
    offers_refund = models.BooleanField(default=True)
    offers_store_credit = models.BooleanField(default=True)
    offers_exchange = models.BooleanField(default=True)
    restocking_fee_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT
    )
    return_shipping_paid_by = models.CharField(
        max_length=20, choices=ShippingPaidBy.choices, default=ShippingPaidBy.MERCHANT
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_set", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decision="deny") | ~models.Q(ineligible_reason=""),
                name="policy_rule_denial_says_why",
                violation_error_message="A rule that denies a return says why.",
            ),
            models.CheckConstraint(
                condition=models.Q(restocking_fee_percent__gte=0)
                & models.Q(restocking_fee_percent__lte=100),
                name="policy_rule_fee_is_a_percentage",
                violation_error_message="A restocking fee is between 0 and 100 %.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (priority {self.priority})"

    @property
    def eligible(self) -> bool:
        return self.decision != DecisionKind.DENY


class PolicyEdit(models.Model):
    """One change a person made to a draft rule set, with who and why: the draft's edit log,
    and the client token that makes a form submitted twice apply once."""

    class Action(models.TextChoices):
        ADD = "add", "Added a rule"
        CHANGE = "change", "Changed a rule"
        DELETE = "delete", "Deleted a rule"
        MOVE = "move", "Reordered the rules"

    rule_set = models.ForeignKey(PolicyRuleSet, on_delete=models.CASCADE, related_name="edits")
    # Not a foreign key: the log outlives a deleted rule.
    rule_id = models.PositiveIntegerField(null=True, blank=True)
    rule_name = models.CharField(max_length=120)
    action = models.CharField(max_length=10, choices=Action.choices)
    note = models.CharField(max_length=500, help_text="Why, in the editor's words.")
    client_token = models.CharField(max_length=64, unique=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"v{self.rule_set.version}: {self.get_action_display()} “{self.rule_name}”"
