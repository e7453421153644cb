"""Read-only stock API under /api/v1/inventory/: balances, channel availability, the ledger
and serialized units. Reads need the model's view permission (erp.api.ModelPermissions)."""

from django.core.exceptions import MultipleObjectsReturned
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination

from inventory import selectors
from inventory.filters import AvailabilityFilter, BalanceFilter, MovementFilter, UnitFilter
from inventory.models import ChannelAvailability, InventoryUnit, StockBalance, StockMovement


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


class BalanceListView(generics.ListAPIView):
    """Non-zero balances per SKU, location, state and lot."""

    serializer_class = BalanceSerializer
    filterset_class = BalanceFilter
    pagination_class = BalancePagination

    def get_queryset(self):
        return selectors.balance_api_list()


class AvailabilityListView(generics.ListAPIView):
    """Available-to-sell per channel and SKU, with the version last acknowledged by the channel."""

    serializer_class = AvailabilitySerializer
    filterset_class = AvailabilityFilter
    pagination_class = BalancePagination

    def get_queryset(self):
        return selectors.availability_list()


class MovementListView(generics.ListAPIView):
    """The ledger, newest first; location and state match either side of a movement."""

    serializer_class = MovementSerializer
    filterset_class = MovementFilter
    pagination_class = MovementPagination

    def get_queryset(self):
        return selectors.movement_list()


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
    ]
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
