"""The ledger in the Django admin: read-only, since only the services may write stock."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from erp.admin_mixins import ReadOnlyAdminMixin

from .models import (
    ChannelAvailability,
    ChannelRule,
    ExternalLocation,
    InventoryUnit,
    ReconciliationTolerance,
    SafetyStock,
    StockBalance,
    StockMovement,
)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "kind",
        "product",
        "qty",
        "lot",
        "unit",
        "from_location",
        "from_state",
        "to_location",
        "to_state",
        "cause_type",
        "cause_id",
        "actor",
    ]
    list_filter = ["kind", "cause_type", "from_state", "to_state", "product__tracking"]
    list_select_related = ["product", "unit", "from_location", "to_location", "actor"]
    search_fields = ["product__sku", "unit__serial", "cause_id", "idempotency_key", "lot"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(StockBalance)
class StockBalanceAdmin(ReadOnlyAdmin):
    list_display = ["product", "location", "state", "lot", "qty"]
    list_filter = ["state", ("location__warehouse", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["product", "location__warehouse"]
    search_fields = ["product__sku", "lot", "location__code"]


@admin.register(InventoryUnit)
class InventoryUnitAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["serial", "product", "state", "location", "lot", "updated_at"]
    list_filter = ["state", ("location__warehouse", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["product", "location__warehouse"]
    search_fields = ["serial", "product__sku"]


@admin.register(ChannelAvailability)
class ChannelAvailabilityAdmin(ReadOnlyAdmin):
    list_display = ["channel", "product", "ats", "version", "last_pushed_version", "updated_at"]
    list_filter = ["channel"]
    list_select_related = ["channel", "product"]
    search_fields = ["product__sku"]


@admin.register(ChannelRule)
class ChannelRuleAdmin(admin.ModelAdmin):
    list_display = ["channel", "sellable_states"]
    filter_horizontal = ["warehouses"]


@admin.register(SafetyStock)
class SafetyStockAdmin(admin.ModelAdmin):
    list_display = ["channel", "product", "qty"]
    list_select_related = ["channel", "product"]
    search_fields = ["product__sku"]
    autocomplete_fields = ["product"]


@admin.register(ExternalLocation)
class ExternalLocationAdmin(SimpleHistoryAdmin):
    """How each reconciliation source names our warehouses (source → warehouse)."""

    list_display = ["source", "external_code", "warehouse"]
    list_filter = ["source"]
    list_select_related = ["warehouse"]
    search_fields = ["external_code", "warehouse__code", "warehouse__name"]


@admin.register(ReconciliationTolerance)
class ReconciliationToleranceAdmin(SimpleHistoryAdmin):
    """The unexplained variance allowed per source / category; the next run applies it."""

    list_display = ["__str__", "source", "category", "units", "percent", "value"]
    list_filter = ["source"]
    list_select_related = ["category"]
