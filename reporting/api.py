"""KPIs for BI tools under /api/v1/kpis/: the dashboards' figures for a window (computed by
the same selectors) and the daily snapshots behind the trend charts. Read-only; opened by the
dashboards' permissions (a role's own or every dashboard's)."""

from datetime import date, timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from erp.api.errors import errors
from erp.api.permissions import ActionPermissions
from reporting.forms import DEFAULT_DAYS, MAX_DAYS
from reporting.kpis import (
    KpiFilters,
    exception_volume_by_kind,
    quarantine_aging,
    reconciliation,
    recovery,
    refunds,
    restock_latency,
    return_cycle_times,
)
from reporting.models import KpiSnapshot
from reporting.snapshots import pipeline_read
from reporting.views import DASHBOARD_PERMISSIONS

# Dates a window may cover: wide enough for any real history, narrow enough that a window's
# arithmetic never leaves the calendar.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
ID = {"required": False, "min_value": 1, "max_value": 2**31 - 1}


class KpiQuery(serializers.Serializer):
    """The dashboards' filter bar: whole UTC days, both included; by default the last 30."""

    start = serializers.DateField(required=False, help_text="First day (default: end − 29).")
    end = serializers.DateField(required=False, help_text="Last day (default: today).")
    channel = serializers.IntegerField(**ID, help_text="Channel id.")
    warehouse = serializers.IntegerField(**ID, help_text="Warehouse id.")
    category = serializers.IntegerField(**ID, help_text="Category id.")

    def validate(self, data):
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or max(end - timedelta(days=DEFAULT_DAYS - 1), EARLIEST)
        if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):
            raise serializers.ValidationError(f"Days must fall between {EARLIEST} and {LATEST}.")
        if start > end:
            raise serializers.ValidationError("The window starts after it ends: swap the dates.")
        if (end - start).days >= MAX_DAYS:
            raise serializers.ValidationError(f"Choose a window of at most {MAX_DAYS} days.")
        return {**data, "start": start, "end": end}

    def filters(self) -> KpiFilters:
        data = self.validated_data
        return KpiFilters(
            start=data["start"],
            end=data["end"],
            channel_id=data.get("channel"),
            warehouse_id=data.get("warehouse"),
            category_id=data.get("category"),
        )


class DurationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)


class StageSerializer(DurationSerializer):
    stage = serializers.CharField()
    label = serializers.CharField()


class AgingBucketSerializer(serializers.Serializer):
    label = serializers.CharField()
    units = serializers.IntegerField()


class QuarantineSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField(help_text="Units in quarantine now.")
    buckets = AgingBucketSerializer(many=True)
    released = DurationSerializer(help_text="Time released units spent in quarantine.")


class PipelineSerializer(serializers.Serializer):
    state = serializers.CharField()
    label = serializers.CharField()
    cases = serializers.IntegerField()
    value_by_currency = serializers.DictField(
        child=serializers.DecimalField(max_digits=18, decimal_places=2)
    )


class ExceptionKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()
    active = serializers.IntegerField()
    overdue = serializers.IntegerField()
    by_age = serializers.ListField(
        child=serializers.IntegerField(), help_text="Active by age: <1 d, 1–3 d, 3–7 d, ≥7 d."
    )


MONEY = {"max_digits": 18, "decimal_places": 2}


class RefundAccuracySerializer(serializers.Serializer):
    issued = serializers.IntegerField()
    checked = serializers.IntegerField(help_text="Accurate + reversed + mismatched.")
    accurate = serializers.IntegerField()
    reversed = serializers.IntegerField()
    mismatched = serializers.IntegerField()
    unverified = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Accurate / checked.")
    over_refunded = serializers.DecimalField(**MONEY)
    under_refunded = serializers.DecimalField(**MONEY)


class RecoverySerializer(serializers.Serializer):
    outcome = serializers.CharField()
    label = serializers.CharField()
    currency = serializers.CharField()
    units = serializers.IntegerField()
    returned_value = serializers.DecimalField(**MONEY)
    expected = serializers.DecimalField(**MONEY)
    realized = serializers.DecimalField(**MONEY)
    expected_rate = serializers.FloatField(allow_null=True)
    realized_rate = serializers.FloatField(allow_null=True)


class VarianceKpiSerializer(serializers.Serializer):
    source = serializers.CharField()
    bucket = serializers.CharField()
    label = serializers.CharField()
    keys = serializers.IntegerField()
    over_tolerance = serializers.IntegerField()
    variance_units = serializers.IntegerField()
    explained_units = serializers.IntegerField()
    unexplained_units = serializers.IntegerField()
    explained_share = serializers.FloatField(allow_null=True)
    variance_value = serializers.DecimalField(**MONEY)
    explained_value = serializers.DecimalField(**MONEY)
    unexplained_value = serializers.DecimalField(**MONEY)


class OverviewSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    cycle_times = StageSerializer(many=True)
    restock_latency = DurationSerializer()
    quarantine = QuarantineSerializer()
    open_pipeline = PipelineSerializer(
        many=True,
        help_text="Open cases per state now: as the 5-minute job stored it, or counted live "
        "when that is over an hour old.",
    )
    open_pipeline_as_of = serializers.DateTimeField(help_text="When the pipeline was counted.")
    exceptions = ExceptionKindSerializer(many=True)
    refund_latency = DurationSerializer(help_text="Proposed → issued.")
    inspection_to_refund = DurationSerializer()
    refund_accuracy = RefundAccuracySerializer()
    recovery_by_disposition = RecoverySerializer(many=True)
    reconciliation_variance = VarianceKpiSerializer(
        many=True, help_text="As of the last reconciliation run, not a window figure."
    )


def _duration(summary) -> dict:
    return {
        "count": summary.count,
        "median_hours": summary.median_hours,
        "p90_hours": summary.p90_hours,
    }


class KpiOverviewView(APIView):
    """The dashboards' KPIs over a window, each as its selector in reporting.kpis defines it:
    return cycle time per stage, restock latency, quarantine aging, the open pipeline (as the
    dashboards read it: stored every 5 minutes, with when it was counted), exception volume by
    kind, refund latency and accuracy, recovery by disposition and the reconciliation
    variance."""

    permission_classes = [ActionPermissions]
    any_permissions = DASHBOARD_PERMISSIONS

    @extend_schema(parameters=[KpiQuery], responses={200: OverviewSerializer, **errors(400, 403)})
    def get(self, request):
        query = KpiQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.filters()
        aging = quarantine_aging(filters=filters)
        pipeline = pipeline_read(filters=filters)
        overview = {
            "start": filters.start,
            "end": filters.end,
            "cycle_times": [
                {"stage": row.stage.key, "label": row.stage.label, **_duration(row.summary)}
                for row in return_cycle_times(filters=filters)
            ],
            "restock_latency": _duration(restock_latency(filters=filters)),
            "quarantine": {
                "on_hand": aging.on_hand,
                "buckets": [vars(bucket) for bucket in aging.buckets],
                "released": _duration(aging.released),
            },
            "open_pipeline": [vars(row) for row in pipeline.rows],
            "open_pipeline_as_of": pipeline.as_of,
            "exceptions": [vars(row) for row in exception_volume_by_kind(filters=filters)],
            "refund_latency": _duration(refunds.refund_latency(filters=filters)),
            "inspection_to_refund": _duration(refunds.inspection_to_refund(filters=filters)),
            "refund_accuracy": refunds.refund_accuracy(filters=filters),
            "recovery_by_disposition": recovery.recovery_by_disposition(filters=filters),
            "reconciliation_variance": reconciliation.reconciliation_variance(filters=filters),
        }
        return Response(OverviewSerializer(overview).data)


class KpiSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = KpiSnapshot
        fields = ["day", "metric", "dimension", "value", "count", "computed_at"]


class KpiSnapshotQuery(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="First day, included.")
    until = serializers.DateField(required=False, help_text="Last day, included.")
    metric = serializers.CharField(required=False, max_length=60)
    dimension = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text='"" for all, "channel:<id>" or "warehouse:<id>"; omitted: every dimension.',
    )


class SnapshotPages(LimitOffsetPagination):
    default_limit = 500
    max_limit = 5000


class KpiSnapshotListView(generics.ListAPIView):
    """The stored daily KPI values (one row per day, metric and dimension), oldest first."""

    permission_classes = [ActionPermissions]
    any_permissions = DASHBOARD_PERMISSIONS
    serializer_class = KpiSnapshotSerializer
    pagination_class = SnapshotPages

    @extend_schema(
        parameters=[KpiSnapshotQuery],
        responses={200: KpiSnapshotSerializer(many=True), **errors(400, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = KpiSnapshotQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        rows = KpiSnapshot.objects.order_by("day", "metric", "dimension")
        if "since" in data:
            rows = rows.filter(day__gte=data["since"])
        if "until" in data:
            rows = rows.filter(day__lte=data["until"])
        if "metric" in data:
            rows = rows.filter(metric=data["metric"])
        if "dimension" in data:
            rows = rows.filter(dimension=data["dimension"])
        return rows


urlpatterns = [
    path("", KpiOverviewView.as_view(), name="kpis_api_overview"),
    path("daily/", KpiSnapshotListView.as_view(), name="kpis_api_daily"),
]
