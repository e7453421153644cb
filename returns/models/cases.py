"""Return cases (RMA): the request, its lines, the policy and risk decisions that were taken on
it, and the customer messages it queued. State changes only through `returns.services`."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from erp.models import Channel, Customer, OrderLine, ReasonCode, SalesOrder, Warehouse

from .policy import PolicyRule, PolicyRuleSet, RefundTrigger, Resolution, ShippingPaidBy


class ReturnState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    PENDING_REVIEW = "pending_review", "Pending review"
    AUTHORIZED = "authorized", "Authorized"
    REJECTED = "rejected", "Rejected"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered to warehouse"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


# A case in one of these no longer holds quantity: the units can be claimed again.
VOID_STATES = (ReturnState.REJECTED, ReturnState.CANCELLED, ReturnState.EXPIRED)
# Before the parcel leaves, the customer (or CS) may still cancel.
CANCELLABLE_STATES = (ReturnState.REQUESTED, ReturnState.PENDING_REVIEW, ReturnState.AUTHORIZED)


class ClaimedCondition(models.TextChoices):
    UNOPENED = "unopened", "Unopened"
    OPENED_UNUSED = "opened_unused", "Opened, unused"
    USED = "used", "Used"
    DAMAGED = "damaged", "Damaged"
    DEFECTIVE = "defective", "Defective (does not work)"


class Source(models.TextChoices):
    CUSTOMER_SERVICE = "customer_service", "Customer service"
    API = "api", "Channel or portal (API)"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


def ship_deadline_passed(case: "ReturnCase") -> bool:
    return case.ship_by is not None and case.ship_by < timezone.now()


class ReturnCase(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    State = ReturnState

    rma_number = models.CharField("RMA number", max_length=20, unique=True)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="return_cases")
    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="return_cases")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="return_cases")
    source = models.CharField(max_length=20, choices=Source.choices)
    state = FSMField(
        max_length=20, choices=ReturnState.choices, default=ReturnState.REQUESTED, protected=True
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices)

    # The policy decision, frozen when the case was created.
    rule_set = models.ForeignKey(PolicyRuleSet, on_delete=models.PROTECT, related_name="+")
    deciding_rule = models.ForeignKey(PolicyRule, on_delete=models.PROTECT, related_name="+")
    decision = models.JSONField(help_text="The policy decision and its explanation, per line.")
    refund_trigger = models.CharField(max_length=20, choices=RefundTrigger.choices)
    restocking_fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    return_shipping_paid_by = models.CharField(max_length=20, choices=ShippingPaidBy.choices)
    ship_by = models.DateTimeField(
        null=True, blank=True, help_text="Authorized but not shipped by then: the case expires."
    )

    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.LOW)
    risk_signals = models.JSONField(default=list, blank=True)

    carrier = models.CharField(max_length=40, blank=True)
    tracking_number = models.CharField(max_length=60, blank=True, db_index=True)
    expected_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agent_note = models.TextField(blank=True)
    outcome_reason = models.TextField(
        blank=True, help_text="Why it was rejected, cancelled or expired: told to the customer."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    requested_at = models.DateTimeField(default=timezone.now)
    review_started_at = models.DateTimeField(null=True, blank=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["decision", "risk_signals"])

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "return case"
        permissions = [
            ("authorize_return", "Can authorize a return"),
            ("reject_return", "Can reject a return"),
            ("cancel_return", "Can cancel a return"),
            ("record_return_shipment", "Can record a return's carrier milestones"),
            ("receive_return", "Can receive a return at the warehouse"),
            ("inspect_return", "Can record a return's inspection"),
            ("close_return", "Can close a return"),
        ]
        indexes = [
            models.Index(fields=["state", "-risk_score", "requested_at"], name="return_queue"),
            models.Index(fields=["state", "ship_by"], name="return_expiry"),
            models.Index(fields=["customer", "-requested_at"], name="return_by_customer"),
        ]

    def __str__(self) -> str:
        return self.rma_number

    # ---- Transitions: they only assign fields; `returns.services` calls them. --------------

    @transition(field=state, source=ReturnState.REQUESTED, target=ReturnState.PENDING_REVIEW)
    def hold_for_review(self) -> None:
        self.review_started_at = timezone.now()

    @transition(
        field=state,
        source=[ReturnState.REQUESTED, ReturnState.PENDING_REVIEW],
        target=ReturnState.AUTHORIZED,
        permission="returns.authorize_return",
    )
    def authorize(self, *, ship_by) -> None:
        self.authorized_at = timezone.now()
        self.ship_by = ship_by

    @transition(
        field=state,
        source=[ReturnState.REQUESTED, ReturnState.PENDING_REVIEW],
        target=ReturnState.REJECTED,
        permission="returns.reject_return",
    )
    def reject(self, *, reason: str) -> None:
        self.rejected_at = timezone.now()
        self.outcome_reason = reason

    @transition(
        field=state,
        source=ReturnState.AUTHORIZED,
        target=ReturnState.IN_TRANSIT,
        permission="returns.record_return_shipment",
    )
    def ship(self, *, carrier: str, tracking_number: str) -> None:
        self.shipped_at = timezone.now()
        self.carrier = carrier
        self.tracking_number = tracking_number

    @transition(
        field=state,
        source=ReturnState.IN_TRANSIT,
        target=ReturnState.DELIVERED,
        permission="returns.record_return_shipment",
    )
    def deliver(self) -> None:
        self.delivered_at = timezone.now()

    @transition(
        field=state,
        source=[ReturnState.IN_TRANSIT, ReturnState.DELIVERED],
        target=ReturnState.RECEIVED,
        permission="returns.receive_return",
    )
    def receive(self) -> None:
        self.received_at = timezone.now()

    @transition(
        field=state,
        source=ReturnState.RECEIVED,
        target=ReturnState.INSPECTED,
        permission="returns.inspect_return",
    )
    def inspect(self) -> None:
        self.inspected_at = timezone.now()

    @transition(
        field=state,
        source=ReturnState.INSPECTED,
        target=ReturnState.CLOSED,
        permission="returns.close_return",
    )
    def close(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=list(CANCELLABLE_STATES),
        target=ReturnState.CANCELLED,
        permission="returns.cancel_return",
    )
    def cancel(self, *, reason: str) -> None:
        self.cancelled_at = timezone.now()
        self.outcome_reason = reason

    @transition(
        field=state,
        source=ReturnState.AUTHORIZED,
        target=ReturnState.EXPIRED,
        conditions=[ship_deadline_passed],
    )
    def expire(self) -> None:
        self.expired_at = timezone.now()
        self.outcome_reason = "Not shipped before the return window closed."


class ReturnLine(models.Model):
    case = models.ForeignKey(ReturnCase, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="return_lines")
    quantity = models.PositiveIntegerField()
    reason = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, related_name="return_lines")
    claimed_condition = models.CharField(max_length=20, choices=ClaimedCondition.choices)
    customer_comment = models.TextField(blank=True)
    unit_price = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="The order line's price when the case opened."
    )
    rule = models.ForeignKey(PolicyRule, on_delete=models.PROTECT, related_name="+")

    history = HistoricalRecords()

    class Meta:
        ordering = ["case", "order_line__line_number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1),
                name="return_line_quantity_positive",
                violation_error_message="Return at least one unit.",
            ),
            models.UniqueConstraint(
                fields=["case", "order_line"],
                name="return_line_once_per_case",
                violation_error_message="This order line is already on the case.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} · {self.order_line} × {self.quantity}"

    @property
    def value(self) -> Decimal:
        return self.unit_price * self.quantity


class ReturnCaseMessage(models.Model):
    """A customer message the case queued (through the outbox), shown on its timeline."""

    class Template(models.TextChoices):
        AUTHORIZED = "return_authorized", "Return authorized, with instructions"
        UNDER_REVIEW = "return_under_review", "Return under review"
        REJECTED = "return_rejected", "Return rejected, with the reason"
        CANCELLED = "return_cancelled", "Return cancelled"
        EXPIRED = "return_expired", "Return expired"
        RECEIVED = "return_received", "Return received"

    case = models.ForeignKey(ReturnCase, on_delete=models.CASCADE, related_name="messages")
    template = models.CharField(max_length=40, choices=Template.choices)
    outbox_message_id = models.PositiveBigIntegerField()
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["case", "queued_at", "id"]

    def __str__(self) -> str:
        return f"{self.case} · {self.template}"


class ReturnPhoto(models.Model):
    """A photo the customer or agent gave as evidence of the claimed condition."""

    case = models.ForeignKey(ReturnCase, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="returns/photos/%Y/%m/")
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["case", "uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.case} · {self.image.name}"
