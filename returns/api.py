"""Return cases for channels and customer portals under /api/v1/returns/: open a return on
an order (the same service and policy as the CS screen), read and filter cases by RMA number,
and take each transition the CS screen offers, through the same service and permission."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from erp.api.errors import errors
from erp.api.permissions import ActionPermissions
from erp.models import ReasonCodeMapping, SalesOrder
from returns import selectors, services
from returns.models import ClaimedCondition, Resolution, ReturnCase, ReturnState, Source
from returns.views import ACTION_LABELS, ACTIONS, VIEW_PERMISSION


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


class ReturnCaseFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ReturnState.choices)
    channel = django_filters.CharFilter(field_name="channel__code", help_text="Channel code.")
    order_number = django_filters.CharFilter(field_name="order__number")
    customer_email = django_filters.CharFilter(
        field_name="customer__email", lookup_expr="iexact", help_text="Case-insensitive."
    )
    tracking_number = django_filters.CharFilter()
    requested_since = django_filters.IsoDateTimeFilter(
        field_name="requested_at", lookup_expr="gte", help_text="Requested at or after (ISO 8601)."
    )
    requested_until = django_filters.IsoDateTimeFilter(
        field_name="requested_at", lookup_expr="lt", help_text="Requested before (ISO 8601)."
    )

    class Meta:
        model = ReturnCase
        fields = [
            "state",
            "channel",
            "order_number",
            "customer_email",
            "tracking_number",
            "requested_since",
            "requested_until",
        ]


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
    filterset_class = ReturnCaseFilter

    def get_queryset(self):
        return selectors.return_case_api_list()

    @extend_schema(responses={200: ReturnCaseSerializer(many=True), **errors(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ReturnRequestSerializer,
        responses={201: ReturnCaseSerializer, **errors(400, 403, 404)},
    )
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


@extend_schema(responses={200: ReturnCaseSerializer, **errors(403, 404)})
class ReturnCaseDetailView(generics.RetrieveAPIView):
    serializer_class = ReturnCaseSerializer
    lookup_field = "rma_number"

    def get_queryset(self):
        return selectors.return_case_api_list()


# What each action's body carries; the service checks each value (a blank reason is a 400).
ACTION_FIELDS = {
    "note": serializers.CharField(required=False, allow_blank=True, default="", max_length=2000),
    "reason": serializers.CharField(max_length=2000, help_text="Why; the customer is told."),
    "carrier": serializers.CharField(max_length=60),
    "tracking_number": serializers.CharField(max_length=100),
}


class ReturnCaseActionView(GenericAPIView):
    """POST one transition on a case, through its service. The action's permission is checked
    before anything is read (403, nothing changed); a state that does not allow it is a 409
    with the reason; a refusal of the service (a fraud review still open, a missing reason)
    is a 400."""

    permission_classes = [ActionPermissions]
    serializer_class = ReturnCaseSerializer
    action = ""

    def post(self, request, rma_number: str):
        service, _permission, field_names = ACTIONS[self.action]
        body = self.body_serializer(data=request.data) if field_names else None
        if body is not None:
            body.is_valid(raise_exception=True)
        case_id = (
            ReturnCase.objects.filter(rma_number=rma_number).values_list("pk", flat=True).first()
        )
        if case_id is None:
            raise NotFound("No return with this RMA number.")
        service(case_id=case_id, actor=request.user, **(body.validated_data if body else {}))
        case = selectors.return_case_api_list().get(pk=case_id)
        return Response(ReturnCaseSerializer(case).data)


def _action_view(action: str) -> type[ReturnCaseActionView]:
    _service, permission, field_names = ACTIONS[action]
    body = (
        type(
            f"Return{action.title()}Request",
            (serializers.Serializer,),
            {name: ACTION_FIELDS[name] for name in field_names},
        )
        if field_names
        else None
    )
    # A body is a 400 when it is malformed; a reject or cancel also refuses a blank reason,
    # an authorize an open fraud review and a close an open exception.
    codes = (400, 403, 404, 409) if field_names else (403, 404, 409)
    schema = extend_schema(
        summary=ACTION_LABELS[action],
        request=body,
        responses={200: ReturnCaseSerializer, **errors(*codes)},
    )
    return schema(
        type(
            f"ReturnCase{action.title()}View",
            (ReturnCaseActionView,),
            {
                "action": action,
                "body_serializer": body,
                "required_permissions": (VIEW_PERMISSION, permission),
                "__doc__": f"{ACTION_LABELS[action]} (needs `{permission}`).",
            },
        )
    )


# /api/v1/returns/cases/<rma>/<action>/ (the list, create and detail are in returns.urls).
urlpatterns = [
    path(
        f"cases/<str:rma_number>/{action}/",
        _action_view(action).as_view(),
        name=f"returns_api_case_{action}",
    )
    for action in ACTIONS
]
