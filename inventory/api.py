"""Stock API under /api/v1/inventory/: balances, channel availability, the ledger and
serialized units (read-only; reads need the model's view permission, erp.api.ModelPermissions),
and reconciliation: a source's snapshot upload and the variances it leads to."""

import django_filters
from django.core.exceptions import MultipleObjectsReturned
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.response import Response

from erp.api.errors import errors
from erp.api.permissions import ActionPermissions
from erp.models import Warehouse
from inventory import selectors
from inventory.filters import AvailabilityFilter, BalanceFilter, MovementFilter, UnitFilter
from inventory.models import ChannelAvailability, InventoryUnit, StockBalance, StockMovement
from inventory.models.reconciliation import (
    Bucket,
    ExternalSnapshot,
    ReconciliationVariance,
    SnapshotScope,
    SnapshotSource,
    VarianceStatus,
)
from inventory.reconciliation import selectors as reconciliation_selectors
from inventory.reconciliation.snapshots import SnapshotLineIn, snapshot_record


class LocationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    warehouse = serializers.CharField(source="warehouse.code")


class BalanceSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    location = LocationSerializer()

    class Meta:
        model = StockBalance
        fields = ["id", "sku", "location", "state", "lot", "qty"]


class AvailabilitySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    sku = serializers.CharField(source="product.sku")
    push_pending = serializers.SerializerMethodField()

    class Meta:
        model = ChannelAvailability
        fields = ["channel", "sku", "ats", "version", "last_pushed_version", "push_pending"]

    def get_push_pending(self, row: ChannelAvailability) -> bool:
        return row.version > row.last_pushed_version


class MovementSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    serial = serializers.CharField(source="unit.serial", allow_null=True, default=None)
    from_location = LocationSerializer(allow_null=True)
    to_location = LocationSerializer(allow_null=True)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "sku",
            "qty",
            "lot",
            "serial",
            "kind",
            "from_location",
            "from_state",
            "to_location",
            "to_state",
            "cause_type",
            "cause_id",
            "actor",
            "reason",
            "occurred_at",
            "posted_at",
        ]


class UnitSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    location = LocationSerializer(allow_null=True)

    class Meta:
        model = InventoryUnit
        fields = ["id", "serial", "sku", "lot", "state", "location", "updated_at"]


class UnitLifeSerializer(UnitSerializer):
    movements = MovementSerializer(many=True, source="movements.all")

    class Meta(UnitSerializer.Meta):
        fields = [*UnitSerializer.Meta.fields, "movements"]


class BalancePagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class MovementPagination(CursorPagination):
    """The ledger grows without bound: a cursor keeps every page as cheap as the first."""

    ordering = ("-occurred_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class UnitPagination(CursorPagination):
    ordering = ("id",)
    page_size = 100


@extend_schema(responses={200: BalanceSerializer(many=True), **errors(400, 403)})
class BalanceListView(generics.ListAPIView):
    """Non-zero balances per SKU, location, state and lot."""

    serializer_class = BalanceSerializer
    filterset_class = BalanceFilter
    pagination_class = BalancePagination

    def get_queryset(self):
        return selectors.balance_api_list()


@extend_schema(responses={200: AvailabilitySerializer(many=True), **errors(400, 403)})
class AvailabilityListView(generics.ListAPIView):
    """Available-to-sell per channel and SKU, with the version last acknowledged by the channel."""

    serializer_class = AvailabilitySerializer
    filterset_class = AvailabilityFilter
    pagination_class = BalancePagination

    def get_queryset(self):
        return selectors.availability_list()


@extend_schema(responses={200: MovementSerializer(many=True), **errors(400, 403, 404)})
class MovementListView(generics.ListAPIView):
    """The ledger, newest first; location and state match either side of a movement."""

    serializer_class = MovementSerializer
    filterset_class = MovementFilter
    pagination_class = MovementPagination

    def get_queryset(self):
        return selectors.movement_list()


@extend_schema(responses={200: UnitSerializer(many=True), **errors(400, 403, 404)})
class UnitListView(generics.ListAPIView):
    """Serialized units: where each serial is now."""

    serializer_class = UnitSerializer
    filterset_class = UnitFilter
    pagination_class = UnitPagination

    def get_queryset(self):
        return selectors.unit_list()


@extend_schema(
    parameters=[
        OpenApiParameter(
            "sku",
            OpenApiTypes.STR,
            description="The SKU, when several SKUs share this serial number.",
        )
    ],
    responses={200: UnitLifeSerializer, **errors(400, 403, 404)},
)
class UnitDetailView(generics.RetrieveAPIView):
    """One serial: where it is now and every movement of its life, oldest first."""

    # The model the permission check reads; the unit itself comes from `get_object`.
    queryset = InventoryUnit.objects.none()
    serializer_class = UnitLifeSerializer
    lookup_field = "serial"

    def get_object(self) -> InventoryUnit:
        sku = self.request.query_params.get("sku", "")
        product_id = None
        if sku:
            product_id = (
                selectors.unit_list(serial=self.kwargs["serial"])
                .filter(product__sku=sku)
                .values_list("product_id", flat=True)
                .first()
            )
            if product_id is None:
                raise NotFound("No unit with this serial number and SKU.")
        try:
            unit = selectors.unit_get(serial=self.kwargs["serial"], product_id=product_id)
        except InventoryUnit.DoesNotExist as error:
            raise NotFound("No unit with this serial number.") from error
        except MultipleObjectsReturned as error:
            raise ValidationError(
                {"sku": ["Several SKUs have this serial number: name the SKU."]}
            ) from error
        self.check_object_permissions(self.request, unit)
        return unit


# ---- Reconciliation -------------------------------------------------------------------------


class SnapshotLineSerializer(serializers.Serializer):
    """One SKU at one external location; a figure the source does not report is omitted or
    null (not 0)."""

    sku = serializers.CharField(max_length=80, help_text="Our SKU or a channel listing's SKU.")
    external_location = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default=""
    )
    lot = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    on_hand = serializers.IntegerField(
        min_value=0, max_value=10**12, required=False, allow_null=True, default=None
    )
    available = serializers.IntegerField(
        min_value=0, max_value=10**12, required=False, allow_null=True, default=None
    )
    allocated = serializers.IntegerField(
        min_value=0, max_value=10**12, required=False, allow_null=True, default=None
    )
    on_hold = serializers.IntegerField(
        min_value=0, max_value=10**12, required=False, allow_null=True, default=None
    )


UPLOAD_SOURCES = [choice for choice in SnapshotSource.choices if choice[0] != "storefront"]
MAX_SNAPSHOT_LINES = 20_000


class SnapshotUploadSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=UPLOAD_SOURCES)
    external_ref = serializers.CharField(
        max_length=200, help_text="The source's id for this report: a replay is a no-op."
    )
    taken_at = serializers.DateTimeField(help_text="When the counts were true (with a zone).")
    scope = serializers.ChoiceField(choices=SnapshotScope.choices, default=SnapshotScope.FULL)
    warehouse = serializers.SlugField(
        max_length=40,
        required=False,
        help_text="Our warehouse code, for lines whose location is not mapped.",
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    lines = SnapshotLineSerializer(many=True, max_length=MAX_SNAPSHOT_LINES)


class SnapshotSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    recorded_by = serializers.CharField(
        source="recorded_by.username", allow_null=True, default=None
    )

    class Meta:
        model = ExternalSnapshot
        fields = [
            "id",
            "source",
            "external_ref",
            "scope",
            "warehouse",
            "taken_at",
            "recorded_at",
            "recorded_by",
            "line_count",
            "note",
        ]


class SnapshotUploadView(generics.GenericAPIView):
    """Record what a 3PL or marketplace says we hold, through `snapshot_record` (strict): a
    line whose SKU or location we cannot match refuses the whole upload (400, naming each
    line; nothing written). The same (source, external_ref) again returns the snapshot
    already recorded (200). After commit, an incremental reconciliation of its SKUs runs."""

    permission_classes = [ActionPermissions]
    required_permissions = ("inventory.view_externalsnapshot", "inventory.import_inventoryreport")
    serializer_class = SnapshotUploadSerializer

    @extend_schema(
        request=SnapshotUploadSerializer,
        responses={
            201: SnapshotSerializer,
            200: OpenApiResponse(SnapshotSerializer, description="Already recorded: a replay."),
            **errors(400, 403),
        },
    )
    def post(self, request):
        incoming = SnapshotUploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        warehouse_id = None
        if data.get("warehouse"):
            warehouse_id = (
                Warehouse.objects.filter(code=data["warehouse"])
                .values_list("pk", flat=True)
                .first()
            )
            if warehouse_id is None:
                raise ValidationError({"warehouse": ["No warehouse with this code."]})
        replay = ExternalSnapshot.objects.filter(
            source=data["source"], external_ref=data["external_ref"].strip()
        ).exists()
        snapshot = snapshot_record(
            source=data["source"],
            taken_at=data["taken_at"],
            lines=[SnapshotLineIn(**line) for line in data["lines"]],
            external_ref=data["external_ref"],
            warehouse_id=warehouse_id,
            actor=request.user,
            scope=data["scope"],
            note=data["note"],
            strict=True,
        )
        return Response(
            SnapshotSerializer(snapshot).data,
            status=status.HTTP_200_OK if replay else status.HTTP_201_CREATED,
        )


class VarianceSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    channel = serializers.CharField(source="channel.code", allow_null=True, default=None)

    class Meta:
        model = ReconciliationVariance
        fields = [
            "id",
            "source",
            "bucket",
            "sku",
            "warehouse",
            "channel",
            "taken_at",
            "erp_qty",
            "external_qty",
            "difference",
            "after_snapshot",
            "pending_disposition",
            "in_transit",
            "unacknowledged",
            "explained",
            "unexplained",
            "unit_cost",
            "unexplained_value",
            "status",
            "unexplained_since",
            "computed_at",
            "snapshot",
            "exception",
        ]


class VarianceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VarianceStatus.choices)
    source = django_filters.ChoiceFilter(choices=SnapshotSource.choices)
    bucket = django_filters.ChoiceFilter(choices=Bucket.choices)
    sku = django_filters.CharFilter(field_name="product__sku", help_text="SKU code, exact.")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", help_text="Warehouse code.")

    class Meta:
        model = ReconciliationVariance
        fields = ["status", "source", "bucket", "sku", "warehouse"]


@extend_schema(responses={200: VarianceSerializer(many=True), **errors(400, 403)})
class VarianceListView(generics.ListAPIView):
    """Current variances that are not matched, the largest unexplained value first."""

    serializer_class = VarianceSerializer
    filterset_class = VarianceFilter
    pagination_class = BalancePagination

    def get_queryset(self):
        return reconciliation_selectors.variance_list()


@extend_schema(responses={200: VarianceSerializer, **errors(403, 404)})
class VarianceDetailView(generics.RetrieveAPIView):
    """One variance, matched or not."""

    serializer_class = VarianceSerializer

    def get_queryset(self):
        return ReconciliationVariance.objects.select_related("product", "warehouse", "channel")


# Reconciliation under /api/v1/inventory/ (the stock reads are in inventory.urls).
urlpatterns = [
    path("snapshots/", SnapshotUploadView.as_view(), name="inventory_api_snapshots"),
    path("variances/", VarianceListView.as_view(), name="inventory_api_variances"),
    path("variances/<int:pk>/", VarianceDetailView.as_view(), name="inventory_api_variance"),
]
