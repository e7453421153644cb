"""Reads of refunds for the finance screens. Each selector owns its joins, so the approval
queue costs the same few queries however many refunds it shows."""

from decimal import Decimal

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from erp.models import Customer
from finance.amounts import RETURN_SHIPPING_FEE
from finance.models import Refund, RefundLine, RefundState, ReturnShippingRate

# A clerk reviews the oldest refunds a page at a time; each row carries its evidence (lines,
# photos, rule, customer history) and costs a few milliseconds to render, so 200 rows made
# the queue the slowest page under load (about 0.5 s of CPU) for rows nobody reads at once.
QUEUE_LIMIT = 50
# The tabs of the refunds screen, in the order finance works them.
QUEUE_STATES = (
    RefundState.PENDING_APPROVAL,
    RefundState.ON_HOLD,
    RefundState.FAILED,
    RefundState.APPROVED,
    RefundState.ISSUED,
    RefundState.REJECTED,
    RefundState.WITHDRAWN,
)


def _customer_history(queryset: QuerySet[Refund]) -> QuerySet[Refund]:
    """Annotate how many return cases the customer opened and refunds they were paid."""
    cases = (
        Customer.objects.filter(pk=OuterRef("customer_id"))
        .annotate(n=Count("return_cases"))
        .values("n")
    )
    paid = (
        Refund.objects.filter(customer_id=OuterRef("customer_id"), state=RefundState.ISSUED)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    zero = Value(0, output_field=IntegerField())
    return queryset.annotate(
        customer_cases=Coalesce(Subquery(cases, output_field=IntegerField()), zero),
        customer_refunds=Coalesce(Subquery(paid, output_field=IntegerField()), zero),
    )


# The case's photos as a list on the case (`photo_list`): a prefetch with `to_attr` attaches
# the rows as they are, where a plain one builds a queryset per case (a deep copy each).
CASE_PHOTOS = Prefetch("case__photos", to_attr="photo_list")


def _with_evidence(queryset: QuerySet[Refund]) -> QuerySet[Refund]:
    return _customer_history(
        queryset.select_related(
            "case",
            "case__deciding_rule",
            "customer",
            "channel",
            "requested_by",
            "approved_by",
        ).prefetch_related(
            Prefetch(
                "lines",
                queryset=RefundLine.objects.select_related("return_line__order_line__product"),
            ),
            CASE_PHOTOS,
        )
    )


# What a queue row shows of its case and customer (the rest of these wide rows, JSON decisions
# and a dozen timestamps, cost CPU to load for nothing); the case's state stays, as django-fsm
# reads it when the case is built.
QUEUE_RELATED_FIELDS = (
    "case__rma_number",
    "case__state",
    "case__deciding_rule__name",
    "customer__name",
)


def refund_queue(*, state: str = RefundState.PENDING_APPROVAL) -> list[Refund]:
    """Refunds in `state`, oldest first (the ones waiting longest), with their evidence:
    (quantity, SKU) per line (`line_list`), the case's policy rule and photos, the customer's
    history. Three queries; a row builds only what it shows (the lines are read as values: as
    models they were four instances a line, for two values)."""
    refund_fields = [field.name for field in Refund._meta.concrete_fields]
    rows = (
        Refund.objects.filter(state=state)
        .order_by("proposed_at", "pk")
        .select_related("case__deciding_rule", "customer", "approved_by")
        .only(*refund_fields, *QUEUE_RELATED_FIELDS, "approved_by__username")
        .prefetch_related(CASE_PHOTOS)
    )
    refunds = list(_customer_history(rows)[:QUEUE_LIMIT])
    lines: dict[int, list[tuple[int, str]]] = {refund.pk: [] for refund in refunds}
    for refund_id, quantity, sku in (
        RefundLine.objects.filter(refund_id__in=lines)
        .order_by("refund_id", "pk")
        .values_list("refund_id", "quantity", "return_line__order_line__product__sku")
    ):
        lines[refund_id].append((quantity, sku))
    for refund in refunds:
        refund.line_list = lines[refund.pk]
    return refunds


def refund_counts() -> dict[str, int]:
    """How many refunds are in each state of the queue's tabs."""
    counts = dict(
        Refund.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    return {state: counts.get(state, 0) for state in QUEUE_STATES}


# What a refund's page and its API read of its case, customer, channel and people. Selecting
# the whole rows (the case's JSON decision, a dozen timestamps) cost CPU to compile and load for
# nothing: 138 columns became 54, about 0.7 ms less to compile.
DETAIL_RELATED_FIELDS = (
    *QUEUE_RELATED_FIELDS,
    "customer__email",
    "channel__code",
    "requested_by__username",
    "approved_by__username",
)


def refund_get(*, pk: int) -> Refund:
    refund_fields = [field.name for field in Refund._meta.concrete_fields]
    return _with_evidence(Refund.objects.only(*refund_fields, *DETAIL_RELATED_FIELDS)).get(pk=pk)


def return_shipping_fee(*, channel_id: int) -> Decimal:
    """What a return label costs on the channel: its ReturnShippingRate, else the default."""
    rate = (
        ReturnShippingRate.objects.filter(channel_id=channel_id)
        .values_list("amount", flat=True)
        .first()
    )
    return RETURN_SHIPPING_FEE if rate is None else rate
