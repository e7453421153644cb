"""The exception queue under /api/v1/exceptions/: list with the queue's filters, one exception
with its notes, and assign / escalate / resolve / dismiss / note through `erp.services`, with
the same permissions as the screens."""

from django.contrib.auth import get_user_model
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from erp import selectors, services
from erp.api.errors import errors
from erp.api.permissions import ActionPermissions
from erp.models import ExceptionCase
from erp.models.exceptions import MANAGE_PERMISSION, ExceptionKind, ExceptionNote, ExceptionState
from erp.roles import Role

VIEW_PERMISSION = "erp.view_exceptioncase"
NOTE_PERMISSION = "erp.add_exceptionnote"


class Pages(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class ExceptionSerializer(serializers.ModelSerializer):
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = ExceptionCase
        fields = [
            "id",
            "kind",
            "state",
            "subject_type",
            "subject_id",
            "subject_label",
            "summary",
            "owner_role",
            "assignee",
            "opened_at",
            "sla_due_at",
            "is_overdue",
            "escalated_at",
            "resolution_reason",
            "resolved_at",
        ]


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)

    class Meta:
        model = ExceptionNote
        fields = ["id", "author", "body", "evidence", "created_at"]


class ExceptionDetailSerializer(ExceptionSerializer):
    opened_by = serializers.CharField(source="opened_by.username", allow_null=True, default=None)
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )
    sku = serializers.CharField(source="product.sku", allow_null=True, default=None)
    order_number = serializers.CharField(source="sales_order.number", allow_null=True, default=None)
    notes = NoteSerializer(many=True, source="notes.all")

    class Meta(ExceptionSerializer.Meta):
        fields = [
            *ExceptionSerializer.Meta.fields,
            "details",
            "evidence",
            "opened_by",
            "resolved_by",
            "sku",
            "order_number",
            "notes",
        ]


class ExceptionQuery(serializers.Serializer):
    """The queue's filters (erp.selectors.ExceptionFilters)."""

    kind = serializers.ChoiceField(choices=ExceptionKind.choices, required=False)
    state = serializers.ChoiceField(
        choices=[
            ("active", "Open, assigned or escalated"),
            ("all", "All"),
            *ExceptionState.choices,
        ],
        default="active",
    )
    owner_role = serializers.ChoiceField(choices=Role.choices, required=False)
    assignee = serializers.ChoiceField(
        choices=[("mine", "Mine"), ("unassigned", "Unassigned")], required=False
    )
    overdue = serializers.BooleanField(default=False, help_text="Active and past its SLA.")
    sort = serializers.ChoiceField(
        choices=[("sla", "SLA due first"), ("age", "Oldest first")], default="sla"
    )


class ExceptionListView(generics.ListAPIView):
    """The exception queue, filtered like the screen's."""

    serializer_class = ExceptionSerializer
    pagination_class = Pages

    @extend_schema(
        parameters=[ExceptionQuery],
        responses={200: ExceptionSerializer(many=True), **errors(400, 403)},
    )
    def get(self, request, *args, **kwargs):
        # Read after the permission check, so a refused caller hears 403 whatever it asked.
        query = ExceptionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.filters = selectors.ExceptionFilters(**query.validated_data)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = getattr(self, "filters", selectors.ExceptionFilters())
        return selectors.exception_list(user=self.request.user, filters=filters)


@extend_schema(responses={200: ExceptionDetailSerializer, **errors(403, 404)})
class ExceptionDetailView(generics.RetrieveAPIView):
    """One exception with its notes."""

    queryset = ExceptionCase.objects.none()  # the model the permission check reads
    serializer_class = ExceptionDetailSerializer

    def get_object(self) -> ExceptionCase:
        try:
            return selectors.exception_get(pk=self.kwargs["pk"])
        except ExceptionCase.DoesNotExist as error:
            raise NotFound("No such exception.") from error


class AssignRequest(serializers.Serializer):
    assignee = serializers.CharField(
        max_length=150, help_text="Username: yourself, or someone in the owner role."
    )


class EscalateRequest(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonRequest(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; required.")


class NoteRequest(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class ExceptionActionView(generics.GenericAPIView):
    """POST one action through its service: without `erp.manage_exceptions` a 403 (nothing
    read or changed); a closed exception a 409; an invalid body or a refused value a 400."""

    permission_classes = [ActionPermissions]
    required_permissions = (VIEW_PERMISSION, MANAGE_PERMISSION)
    serializer_class = ExceptionDetailSerializer
    request_serializer: type[serializers.Serializer]
    status_code = 200

    def act(self, *, exception_id: int, data: dict):
        raise NotImplementedError

    def post(self, request, pk: int):
        body = self.request_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not ExceptionCase.objects.filter(pk=pk).exists():
            raise NotFound("No such exception.")
        self.act(exception_id=pk, data=body.validated_data)
        exception = selectors.exception_get(pk=pk)
        return Response(ExceptionDetailSerializer(exception).data, status=self.status_code)


def _responds(request, codes=(400, 403, 404, 409), status=200):
    return extend_schema(
        request=request, responses={status: ExceptionDetailSerializer, **errors(*codes)}
    )


@_responds(AssignRequest)
class ExceptionAssignView(ExceptionActionView):
    """Assign to yourself or to an active person in the exception's owner role."""

    request_serializer = AssignRequest

    def act(self, *, exception_id, data):
        assignee = get_user_model().objects.filter(username=data["assignee"]).first()
        if assignee is None:
            raise serializers.ValidationError({"assignee": ["No such user."]})
        services.exception_assign(
            exception_id=exception_id, actor=self.request.user, assignee=assignee
        )


@_responds(EscalateRequest)
class ExceptionEscalateView(ExceptionActionView):
    request_serializer = EscalateRequest

    def act(self, *, exception_id, data):
        services.exception_escalate(
            exception_id=exception_id, actor=self.request.user, note=data["note"]
        )


@_responds(ReasonRequest)
class ExceptionResolveView(ExceptionActionView):
    """The problem is dealt with; the resolution handlers of its kind run."""

    request_serializer = ReasonRequest

    def act(self, *, exception_id, data):
        services.exception_resolve(
            exception_id=exception_id, actor=self.request.user, reason=data["reason"]
        )


@_responds(ReasonRequest)
class ExceptionDismissView(ExceptionActionView):
    """Nothing to do (a false alarm, a duplicate)."""

    request_serializer = ReasonRequest

    def act(self, *, exception_id, data):
        services.exception_dismiss(
            exception_id=exception_id, actor=self.request.user, reason=data["reason"]
        )


@_responds(NoteRequest, codes=(400, 403, 404), status=201)
class ExceptionNoteView(ExceptionActionView):
    """Add a note to the exception's timeline (`erp.add_exceptionnote`), open or closed."""

    required_permissions = (VIEW_PERMISSION, NOTE_PERMISSION)
    request_serializer = NoteRequest
    status_code = 201

    def act(self, *, exception_id, data):
        services.exception_add_note(
            exception_id=exception_id, actor=self.request.user, body=data["body"]
        )


urlpatterns = [
    path("", ExceptionListView.as_view(), name="exceptions_api_list"),
    path("<int:pk>/", ExceptionDetailView.as_view(), name="exceptions_api_detail"),
    path("<int:pk>/assign/", ExceptionAssignView.as_view(), name="exceptions_api_assign"),
    path("<int:pk>/escalate/", ExceptionEscalateView.as_view(), name="exceptions_api_escalate"),
    path("<int:pk>/resolve/", ExceptionResolveView.as_view(), name="exceptions_api_resolve"),
    path("<int:pk>/dismiss/", ExceptionDismissView.as_view(), name="exceptions_api_dismiss"),
    path("<int:pk>/notes/", ExceptionNoteView.as_view(), name="exceptions_api_note"),
]
