"""Refunds of returned goods, their lines and approvals, the refundable cap per returned line,
approval limits and store credit. State changes only through `finance.services.refunds`.

A refund refers to its return case and lines by string labels ("returns.ReturnCase"): finance
sits below returns and never imports it.

What the database itself guarantees, even against code that goes around the services:
- a refund line never makes a returned line's refunds exceed what was paid for it: a trigger
  on the refund lines keeps `RefundCap.committed_amount` (one row per returned line) equal to
  the sum of its unreleased refund lines, and a check constraint holds it within
  `paid_amount` (the line's unit price x quantity). Concurrent proposals serialize on the cap
  row's lock, so two refunds cannot both take the last of it.
- amounts are never negative and a line's amount is its gross less its deductions.
- a store-credit balance is never negative.
"""

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 12, "decimal_places": 2}
HALF_CENT = Decimal("0.005")


def equals_to_the_cent(field: str, expression) -> models.Q:
    """`field` = `expression` for amounts kept to the cent. Within half a cent rather than equal:
    SQLite (the demo database) computes decimals as floats; on PostgreSQL's exact numeric at two
    places this is equality."""
    return models.Q(
        **{f"{field}__gte": expression - HALF_CENT, f"{field}__lte": expression + HALF_CENT}
    )


APPROVE_PERMISSION = "finance.approve_refund"
UNLIMITED_PERMISSION = "finance.approve_refund_unlimited"
REJECT_PERMISSION = "finance.reject_refund"
RETRY_PERMISSION = "finance.retry_refund"
RELEASE_PERMISSION = "finance.release_refund_hold"
PROPOSE_PERMISSION = "finance.propose_refund"


class RefundState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    ISSUED = "issued", "Issued"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    ON_HOLD = "on_hold", "On hold"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Not yet paid and not refused: an open exception on the case can still hold these.
HOLDABLE_STATES = (RefundState.PROPOSED, RefundState.PENDING_APPROVAL, RefundState.APPROVED)
# Not yet paid: the system withdraws these when their case is cancelled or expires. A failed
# refund paid nothing either (the provider refused it; a retry reuses the same key).
WITHDRAWABLE_STATES = (*HOLDABLE_STATES, RefundState.ON_HOLD, RefundState.FAILED)


class RefundMethod(models.TextChoices):
    ORIGINAL_PAYMENT = "original_payment", "Original payment"
    STORE_CREDIT = "store_credit", "Store credit"
    EXCHANGE = "exchange", "Exchange (no money refunded)"


class RefundStage(models.TextChoices):
    """When the refund was proposed: the policy's trigger, or a person (partial refunds)."""

    ON_AUTHORIZATION = "on_authorization", "On authorization"
    ON_RECEIPT = "on_receipt", "On receipt"
    ON_INSPECTION = "on_inspection", "On inspection"
    MANUAL = "manual", "By finance (partial refund)"


class Refund(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    State = RefundState
    Method = RefundMethod

    case = models.ForeignKey("returns.ReturnCase", on_delete=models.PROTECT, related_name="refunds")
    channel = models.ForeignKey("erp.Channel", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("erp.Customer", on_delete=models.PROTECT, related_name="refunds")
    stage = models.CharField(max_length=20, choices=RefundStage.choices)
    method = models.CharField(max_length=20, choices=RefundMethod.choices)
    currency = models.CharField(max_length=3)
    gross_amount = models.DecimalField(**MONEY, help_text="Unit price × quantity of the lines.")
    deductions_amount = models.DecimalField(**MONEY, default=0)
    amount = models.DecimalField(**MONEY, help_text="What the customer gets back.")
    state = FSMField(
        max_length=20, choices=RefundState.choices, default=RefundState.PROPOSED, protected=True
    )

    dedupe_key = models.CharField(
        max_length=120, unique=True, help_text="The same proposal is made at most once."
    )
    idempotency_key = models.CharField(
        max_length=80,
        unique=True,
        help_text="Sent to the payment provider on every attempt, so it pays at most once.",
    )
    payment_reference = models.CharField(
        max_length=120, blank=True, help_text="The provider's charge or payment intent."
    )

    risk_level = models.CharField(max_length=10, blank=True)
    evidence = models.JSONField(
        default=dict, blank=True, help_text="What the refund rests on, frozen when proposed."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who caused the proposal; empty when the workflow did.",
    )
    inspector_ids = models.JSONField(
        default=list, blank=True, help_text="Who inspected or received the units (by user id)."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    auto_approved = models.BooleanField(default=False)
    hold_reason = models.CharField(max_length=300, blank=True)
    rejection_reason = models.TextField(blank=True)
    withdrawal_reason = models.TextField(
        blank=True, help_text="Why the system withdrew it (its case was cancelled or expired)."
    )

    provider_refund_id = models.CharField(max_length=120, blank=True)
    provider_status = models.CharField(max_length=40, blank=True)
    failure_code = models.CharField(max_length=80, blank=True)
    failure_message = models.TextField(blank=True)
    failure_retryable = models.BooleanField(
        default=False, help_text="The provider was down or busy: the outbox tries again."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Calls to the provider.")
    execution_round = models.PositiveIntegerField(
        default=0, help_text="How many times it was sent for execution (approval, retry)."
    )
    journal_entry = models.ForeignKey(
        "finance.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    proposed_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["evidence"])

    class Meta:
        ordering = ["-proposed_at", "-id"]
        permissions = [
            ("approve_refund", "Can approve a refund within their approval limit"),
            ("approve_refund_unlimited", "Can approve a refund of any amount (controller)"),
            ("reject_refund", "Can reject a refund"),
            ("retry_refund", "Can retry a failed refund"),
            ("release_refund_hold", "Can release a refund's hold"),
            ("propose_refund", "Can propose a manual partial refund"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0) & models.Q(deductions_amount__gte=0),
                name="refund_amounts_not_negative",
                violation_error_message="A refund and its deductions are never negative.",
            ),
            models.CheckConstraint(
                condition=equals_to_the_cent(
                    "amount", models.F("gross_amount") - models.F("deductions_amount")
                ),
                name="refund_amount_is_gross_less_deductions",
                violation_error_message="A refund is its gross amount less its deductions.",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "proposed_at"], name="refund_queue"),
            models.Index(fields=["customer", "-proposed_at"], name="refund_by_customer"),
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk} · {self.amount} {self.currency}"

    # ---- Transitions: they only assign fields; `finance.services.refunds` calls them. ------

    @transition(field=state, source=RefundState.PROPOSED, target=RefundState.PENDING_APPROVAL)
    def submit(self) -> None:
        pass

    @transition(field=state, source=list(HOLDABLE_STATES), target=RefundState.ON_HOLD)
    def hold(self, *, reason: str) -> None:
        self.hold_reason = reason[:300]

    @transition(
        field=state,
        source=RefundState.ON_HOLD,
        target=RefundState.PENDING_APPROVAL,
        permission=RELEASE_PERMISSION,
    )
    def release(self) -> None:
        self.hold_reason = ""

    @transition(
        field=state,
        source=RefundState.PENDING_APPROVAL,
        target=RefundState.APPROVED,
        permission=APPROVE_PERMISSION,
    )
    def approve(self, *, by, auto: bool = False) -> None:
        self.approved_by = by
        self.auto_approved = auto
        self.approved_at = timezone.now()

    @transition(
        field=state,
        source=[RefundState.PENDING_APPROVAL, RefundState.ON_HOLD],
        target=RefundState.REJECTED,
        permission=REJECT_PERMISSION,
    )
    def reject(self, *, reason: str) -> None:
        self.rejection_reason = reason
        self.rejected_at = timezone.now()

    @transition(field=state, source=RefundState.APPROVED, target=RefundState.ISSUED)
    def issue(self, *, provider_refund_id: str = "", provider_status: str = "") -> None:
        self.provider_refund_id = provider_refund_id
        self.provider_status = provider_status
        self.failure_code = ""
        self.failure_message = ""
        self.failure_retryable = False
        self.issued_at = timezone.now()

    @transition(field=state, source=RefundState.APPROVED, target=RefundState.FAILED)
    def fail(self, *, code: str, message: str, retryable: bool) -> None:
        self.failure_retryable = retryable
        self.failure_code = code[:80]
        self.failure_message = message
        self.failed_at = timezone.now()

    @transition(
        field=state,
        source=RefundState.FAILED,
        target=RefundState.APPROVED,
        permission=RETRY_PERMISSION,
    )
    def retry(self) -> None:
        pass

    @transition(field=state, source=list(WITHDRAWABLE_STATES), target=RefundState.WITHDRAWN)
    def withdraw(self, *, reason: str) -> None:
        self.withdrawal_reason = reason
        self.withdrawn_at = timezone.now()


class RefundLine(models.Model):
    """One returned line's part of a refund: how many units, at what price, less what."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="lines")
    return_line = models.ForeignKey(
        "returns.ReturnLine", on_delete=models.PROTECT, related_name="refund_lines"
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY)
    gross_amount = models.DecimalField(**MONEY)
    grade_deduction = models.DecimalField(**MONEY, default=0)
    restocking_fee = models.DecimalField(**MONEY, default=0)
    shipping_deduction = models.DecimalField(**MONEY, default=0)
    # A database default too: the cap trigger's tests (and any SQL) write lines without it.
    earlier_refunds = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        db_default=Decimal("0"),
        help_text="Paid back already by a manual partial refund of the line.",
    )
    amount = models.DecimalField(**MONEY)
    grades = models.CharField(
        max_length=60, blank=True, help_text="The inspected grades of the units, e.g. “A,B”."
    )
    # A rejected or withdrawn refund gives its lines' amounts back to the cap.
    released = models.BooleanField(default=False)

    class Meta:
        ordering = ["refund", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["refund", "return_line"], name="refund_line_once_per_refund"
            ),
            models.CheckConstraint(
                condition=equals_to_the_cent(
                    "gross_amount", models.F("quantity") * models.F("unit_price")
                ),
                name="refund_line_gross_is_price_times_quantity",
                violation_error_message="A line's gross amount is its unit price × quantity.",
            ),
            models.CheckConstraint(
                condition=equals_to_the_cent(
                    "amount",
                    models.F("gross_amount")
                    - models.F("grade_deduction")
                    - models.F("restocking_fee")
                    - models.F("shipping_deduction")
                    - models.F("earlier_refunds"),
                ),
                name="refund_line_amount_is_gross_less_deductions",
                violation_error_message="A line's amount is its gross less its deductions.",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0)
                & models.Q(grade_deduction__gte=0)
                & models.Q(restocking_fee__gte=0)
                & models.Q(shipping_deduction__gte=0)
                & models.Q(earlier_refunds__gte=0),
                name="refund_line_amounts_not_negative",
                violation_error_message="A line's amount and deductions are never negative.",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="refund_line_commits_cap",
                when=pgtrigger.After,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func="""
                IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.released THEN
                    UPDATE finance_refundcap
                       SET committed_amount = committed_amount - OLD.amount
                     WHERE return_line_id = OLD.return_line_id;
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.released THEN
                    INSERT INTO finance_refundcap (return_line_id, paid_amount, committed_amount)
                    SELECT id, unit_price * quantity, 0 FROM returns_returnline
                     WHERE id = NEW.return_line_id
                    ON CONFLICT (return_line_id) DO NOTHING;
                    UPDATE finance_refundcap
                       SET committed_amount = committed_amount + NEW.amount
                     WHERE return_line_id = NEW.return_line_id;
                END IF;
                RETURN NULL;
                """,
            )
        ]

    def __str__(self) -> str:
        return f"{self.refund} · line {self.return_line_id} x {self.quantity}"


class RefundCap(models.Model):
    """What was paid for one returned line, and how much of it refunds have taken. Written by
    the database trigger on RefundLine only (see the module docstring)."""

    return_line = models.OneToOneField(
        "returns.ReturnLine", on_delete=models.PROTECT, related_name="refund_cap"
    )
    paid_amount = models.DecimalField(**MONEY)
    committed_amount = models.DecimalField(**MONEY, default=0)

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(committed_amount__gte=0)
                & models.Q(committed_amount__lte=models.F("paid_amount")),
                name="refund_never_exceeds_paid",
                violation_error_message="Refunds of a returned line never exceed what was paid.",
            )
        ]

    def __str__(self) -> str:
        return f"line {self.return_line_id}: {self.committed_amount} of {self.paid_amount}"

    @property
    def remaining(self):
        return self.paid_amount - self.committed_amount


class ApprovalLimit(models.Model):
    """The largest refund a group (role) or one user may approve, per currency.

    A user's own limit replaces their groups' limits; otherwise the highest limit of their
    groups applies. A blank currency means "in any currency" (the refund's own currency: the
    seeded finance limit is 500 in the channel's currency). Holders of
    `approve_refund_unlimited` (the controller) have no limit.
    """

    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="refund_approval_limits",
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{3}$", "Use a three-letter code such as USD.")],
        help_text="Blank: any currency.",
    )
    max_amount = models.DecimalField(
        **MONEY,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="The largest refund they may approve, in that currency.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["group__name", "user__username", "currency"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(group__isnull=False) & models.Q(user__isnull=True))
                | (models.Q(group__isnull=True) & models.Q(user__isnull=False)),
                name="approval_limit_group_or_user",
                violation_error_message="A limit is for a group or for a user, not both.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_amount__gte=0),
                name="approval_limit_not_negative",
                violation_error_message="A limit is not negative.",
            ),
            models.UniqueConstraint(
                fields=["group", "currency"],
                condition=models.Q(group__isnull=False),
                name="approval_limit_once_per_group",
                violation_error_message="This group already has a limit in that currency.",
            ),
            models.UniqueConstraint(
                fields=["user", "currency"],
                condition=models.Q(user__isnull=False),
                name="approval_limit_once_per_user",
                violation_error_message="This user already has a limit in that currency.",
            ),
        ]

    def __str__(self) -> str:
        who = self.group.name if self.group_id else self.user.get_username()
        return f"{who}: {self.max_amount} {self.currency or '(any currency)'}"

    def clean(self) -> None:
        if bool(self.group_id) == bool(self.user_id):
            raise ValidationError("Choose a group or a user, not both and not neither.")


class StoreCreditAccount(models.Model):
    """A customer's store-credit balance in one currency."""

    customer = models.ForeignKey(
        "erp.Customer", on_delete=models.PROTECT, related_name="store_credit_accounts"
    )
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(**MONEY, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency"], name="store_credit_once_per_currency"
            ),
            models.CheckConstraint(
                condition=models.Q(balance__gte=0),
                name="store_credit_not_negative",
                violation_error_message="A store-credit balance is never negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.balance} {self.currency}"


class StoreCreditEntry(models.Model):
    """One change of a store-credit balance; issuing a refund as credit writes one."""

    account = models.ForeignKey(
        StoreCreditAccount, on_delete=models.PROTECT, related_name="entries"
    )
    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="store_credit_entry"
    )
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account", "created_at", "id"]
        verbose_name_plural = "store credit entries"

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+}"


class ReturnShippingRate(models.Model):
    """What a return label costs the merchant on one channel, in the channel's currency: the
    deduction from a refund when the policy says the customer pays the return shipping.
    A channel without a rate is charged `finance.amounts.RETURN_SHIPPING_FEE`."""

    channel = models.OneToOneField(
        "erp.Channel", on_delete=models.CASCADE, related_name="return_shipping_rate"
    )
    amount = models.DecimalField(
        **MONEY,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="In the channel's currency; 0 charges nothing.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["channel__name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0),
                name="return_shipping_rate_not_negative",
                violation_error_message="A return shipping rate is not negative.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.amount}"
