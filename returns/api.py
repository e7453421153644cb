"""Return cases for channels and customer portals under /api/v1/returns/: open a return on
an order (the same service and policy as the CS screen) and read cases by RMA number."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from erp.models import ReasonCodeMapping, SalesOrder
from returns import selectors, services
from returns.models import ClaimedCondition, Resolution, ReturnCase, Source


class ReturnLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField(source="order_line.line_number")
    sku = serializers.CharField(source="order_line.product.sku")
    quantity = serializers.IntegerField()
    reason_code = serializers.CharField(source="reason.code")
    claimed_condition = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)


class ReturnCaseSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    order_number = serializers.CharField(source="order.number")
    customer_email = serializers.EmailField(source="customer.email")
    decision = serializers.CharField(source="decision.summary")
    policy_version = serializers.IntegerField(source="rule_set.version")
    deciding_rule = serializers.CharField(source="deciding_rule.name")
    lines = ReturnLineSerializer(many=True)

    class Meta:
        model = ReturnCase
        fields = [
            "rma_number",
            "state",
            "channel",
            "order_number",
            "customer_email",
            "resolution",
            "decision",
            "policy_version",
            "deciding_rule",
            "refund_trigger",
            "restocking_fee_percent",
            "return_shipping_paid_by",
            "ship_by",
            "risk_level",
            "carrier",
            "tracking_number",
            "requested_at",
            "lines",
        ]


class ReturnLineRequestSerializer(serializers.Serializer):
    line_number = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1)
    reason_code = serializers.CharField(
        max_length=60, help_text="A canonical reason code, or the channel's own (mapped)."
    )
    claimed_condition = serializers.ChoiceField(choices=ClaimedCondition.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReturnRequestSerializer(serializers.Serializer):
    channel = serializers.SlugField()
    order_number = serializers.CharField(max_length=64)
    resolution = serializers.ChoiceField(choices=Resolution.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    lines = ReturnLineRequestSerializer(many=True, allow_empty=False)


class NewestFirst(CursorPagination):
    ordering = "-id"


def _requests(order: SalesOrder, lines: list[dict]) -> list[services.LineRequest]:
    """The channel's line numbers and raw reason codes, as the service takes them."""
    by_number = {line.line_number: line.pk for line in order.lines.all()}
    mapped = dict(
        ReasonCodeMapping.objects.filter(
            channel=order.channel, raw_code__in=[line["reason_code"].upper() for line in lines]
        ).values_list("raw_code", "reason__code")
    )
    requests = []
    for line in lines:
        if line["line_number"] not in by_number:
            raise ValidationError(
                {"lines": f"Order {order.number} has no line {line['line_number']}."}
            )
        requests.append(
            services.LineRequest(
                order_line_id=by_number[line["line_number"]],
                quantity=line["quantity"],
                reason_code=mapped.get(line["reason_code"].upper(), line["reason_code"]),
                claimed_condition=line["claimed_condition"],
                comment=line["comment"],
            )
        )
    return requests


class ReturnCaseListCreateView(generics.ListCreateAPIView):
    """GET: return cases, newest first. POST: open a return on a channel's order; the reply
    says what the policy decided (authorized, or held for review)."""

    serializer_class = ReturnCaseSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.return_case_api_list()

    @extend_schema(request=ReturnRequestSerializer, responses={201: ReturnCaseSerializer})
    def post(self, request, *args, **kwargs):
        incoming = ReturnRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        order = (
            SalesOrder.objects.select_related("channel")
            .filter(channel__code=data["channel"], number=data["order_number"])
            .first()
        )
        if order is None:
            raise NotFound("No such order on this channel.")
        try:
            case = services.return_case_create(
                order_id=order.pk,
                requests=_requests(order, data["lines"]),
                resolution=data["resolution"],
                actor=request.user,
                source=Source.API,
                note=data["note"],
            )
        except DjangoValidationError as error:
            raise ValidationError(
                error.message_dict if hasattr(error, "error_dict") else error.messages
            ) from error
        case = selectors.return_case_api_list().get(pk=case.pk)
        return Response(ReturnCaseSerializer(case).data, status=status.HTTP_201_CREATED)


class ReturnCaseDetailView(generics.RetrieveAPIView):
    serializer_class = ReturnCaseSerializer
    lookup_field = "rma_number"

    def get_queryset(self):
        return selectors.return_case_api_list()
