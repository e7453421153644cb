"""Refunds and the journal, read-only, under /api/v1/finance/: what a BI tool or a portal
needs to answer "where is my refund" and to reconcile the general ledger. Reads need the
models' view permissions (erp.api.permissions.ModelPermissions), as the finance screens do."""

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from erp.api.errors import errors
from finance import journal_selectors, refund_selectors
from finance.models import JournalEntry, JournalLine, Refund, RefundLine
from finance.models.refunds import RefundMethod, RefundStage, RefundState


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class RefundLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="return_line.order_line.product.sku")
    line_number = serializers.IntegerField(source="return_line.order_line.line_number")

    class Meta:
        model = RefundLine
        fields = [
            "line_number",
            "sku",
            "quantity",
            "unit_price",
            "gross_amount",
            "grade_deduction",
            "restocking_fee",
            "shipping_deduction",
            "amount",
            "grades",
        ]


class RefundSerializer(serializers.ModelSerializer):
    rma_number = serializers.CharField(source="case.rma_number")
    channel = serializers.CharField(source="channel.code")
    customer_email = serializers.EmailField(source="customer.email")
    approved_by = serializers.CharField(
        source="approved_by.username", allow_null=True, default=None
    )

    class Meta:
        model = Refund
        fields = [
            "id",
            "rma_number",
            "channel",
            "customer_email",
            "state",
            "stage",
            "method",
            "currency",
            "gross_amount",
            "deductions_amount",
            "amount",
            "payment_reference",
            "auto_approved",
            "approved_by",
            "hold_reason",
            "rejection_reason",
            "failure_code",
            "failure_message",
            "proposed_at",
            "approved_at",
            "issued_at",
            "failed_at",
            "rejected_at",
            "withdrawn_at",
        ]


class ApprovalStepSerializer(serializers.Serializer):
    """One recorded change of the refund: who, when, to which state and why."""

    at = serializers.DateTimeField(source="history_date")
    state = serializers.CharField()
    by = serializers.CharField(source="history_user.username", allow_null=True, default=None)
    reason = serializers.CharField(source="history_change_reason", allow_null=True)


class RefundDetailSerializer(RefundSerializer):
    requested_by = serializers.CharField(
        source="requested_by.username", allow_null=True, default=None
    )
    lines = RefundLineSerializer(many=True, source="lines.all")
    approval_trail = serializers.SerializerMethodField()

    class Meta(RefundSerializer.Meta):
        fields = [*RefundSerializer.Meta.fields, "requested_by", "lines", "approval_trail"]

    @extend_schema_field(ApprovalStepSerializer(many=True))
    def get_approval_trail(self, refund: Refund) -> list[dict]:
        steps = refund.history.select_related("history_user").order_by("history_date", "pk")
        return ApprovalStepSerializer(steps, many=True).data


class RefundFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=RefundState.choices)
    method = django_filters.ChoiceFilter(choices=RefundMethod.choices)
    stage = django_filters.ChoiceFilter(choices=RefundStage.choices)
    channel = django_filters.CharFilter(field_name="channel__code", help_text="Channel code.")
    rma_number = django_filters.CharFilter(field_name="case__rma_number")
    customer_email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    proposed_since = django_filters.IsoDateTimeFilter(
        field_name="proposed_at", lookup_expr="gte", help_text="Proposed at or after (ISO 8601)."
    )
    proposed_until = django_filters.IsoDateTimeFilter(
        field_name="proposed_at", lookup_expr="lt", help_text="Proposed before (ISO 8601)."
    )

    class Meta:
        model = Refund
        fields = [
            "state",
            "method",
            "stage",
            "channel",
            "rma_number",
            "customer_email",
            "proposed_since",
            "proposed_until",
        ]


class RefundListView(generics.ListAPIView):
    """Refunds, newest first."""

    serializer_class = RefundSerializer
    filterset_class = RefundFilter
    pagination_class = NewestFirst

    @extend_schema(responses={200: RefundSerializer(many=True), **errors(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return Refund.objects.select_related("case", "channel", "customer", "approved_by")


@extend_schema(responses={200: RefundDetailSerializer, **errors(403, 404)})
class RefundDetailView(generics.RetrieveAPIView):
    """One refund with its lines and its approval trail (every recorded change, oldest first)."""

    queryset = Refund.objects.none()  # the model the permission check reads
    serializer_class = RefundDetailSerializer

    def get_object(self) -> Refund:
        try:
            return refund_selectors.refund_get(pk=self.kwargs["pk"])
        except Refund.DoesNotExist as error:
            raise NotFound("No such refund.") from error


class JournalLineSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code")
    account_name = serializers.CharField(source="account.name")

    class Meta:
        model = JournalLine
        fields = ["account", "account_name", "debit", "credit", "memo"]


class JournalEntrySerializer(serializers.ModelSerializer):
    period = serializers.DateField(source="period.start_date", help_text="The period's start.")
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    reverses = serializers.PrimaryKeyRelatedField(read_only=True)
    lines = JournalLineSerializer(many=True, source="lines.all")

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "period",
            "posting_date",
            "occurred_at",
            "posted_at",
            "currency",
            "cause_type",
            "cause_id",
            "memo",
            "reverses",
            "actor",
            "lines",
        ]


class JournalQuery(serializers.Serializer):
    """The journal screen's filters (finance.journal_selectors.JournalFilters)."""

    period = serializers.IntegerField(required=False, min_value=1, help_text="Fiscal period id.")
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id: entries with a line on it."
    )
    cause_type = serializers.CharField(required=False, max_length=40)
    cause_id = serializers.CharField(required=False, max_length=64)


class JournalEntryListView(generics.ListAPIView):
    """Journal entries with their lines, newest posted first."""

    serializer_class = JournalEntrySerializer
    pagination_class = NewestFirst

    @extend_schema(
        parameters=[JournalQuery],
        responses={200: JournalEntrySerializer(many=True), **errors(400, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        # Read after the permission check, so a refused caller hears 403 whatever it asked.
        query = JournalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        self.filters = journal_selectors.JournalFilters(
            period_id=data.get("period"),
            account_id=data.get("account"),
            cause_type=data.get("cause_type", ""),
            cause_id=data.get("cause_id", ""),
        )
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = getattr(self, "filters", journal_selectors.JournalFilters())
        return journal_selectors.journal_entry_list(filters=filters)


@extend_schema(responses={200: JournalEntrySerializer, **errors(403, 404)})
class JournalEntryDetailView(generics.RetrieveAPIView):
    queryset = JournalEntry.objects.none()  # the model the permission check reads
    serializer_class = JournalEntrySerializer

    def get_object(self) -> JournalEntry:
        try:
            return journal_selectors.journal_entry_get(pk=self.kwargs["pk"])
        except JournalEntry.DoesNotExist as error:
            raise NotFound("No such journal entry.") from error


urlpatterns = [
    path("refunds/", RefundListView.as_view(), name="finance_api_refunds"),
    path("refunds/<int:pk>/", RefundDetailView.as_view(), name="finance_api_refund"),
    path("journal-entries/", JournalEntryListView.as_view(), name="finance_api_journal_entries"),
    path(
        "journal-entries/<int:pk>/",
        JournalEntryDetailView.as_view(),
        name="finance_api_journal_entry",
    ),
]
