"""The ledger in the Django admin: read-only, since only the services may write stock."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from erp.admin_mixins import ReadOnlyAdminMixin

from . import services
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


ADMIN_REASON = "Changed in the admin"


@admin.register(ChannelRule)
class ChannelRuleAdmin(SimpleHistoryAdmin):
    """Saves and deletes go through the services, which recompute ATS (and queue its push)."""

    list_display = ["channel", "sellable_states", "sellable_grades"]
    filter_horizontal = ["warehouses"]

    def get_readonly_fields(self, request, obj=None):
        # The service keys a rule by its channel: another channel is another rule.
        return ["channel"] if obj else []

    def save_model(self, request, obj, form, change):
        rule = services.channel_rule_save(
            channel_id=obj.channel_id,
            sellable_states=obj.sellable_states,
            sellable_grades=obj.sellable_grades,
            warehouse_ids=[warehouse.pk for warehouse in form.cleaned_data["warehouses"]],
            actor=request.user,
            reason=ADMIN_REASON,
        )
        obj.pk = rule.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """The service saved the warehouses with the rule."""

    def delete_model(self, request, obj):
        services.channel_rule_delete(
            channel_id=obj.channel_id, actor=request.user, reason=ADMIN_REASON
        )

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


@admin.register(SafetyStock)
class SafetyStockAdmin(SimpleHistoryAdmin):
    """Saves and deletes go through the services, which recompute ATS (and queue its push)."""

    list_display = ["channel", "product", "qty"]
    list_select_related = ["channel", "product"]
    search_fields = ["product__sku"]
    autocomplete_fields = ["product"]

    def get_readonly_fields(self, request, obj=None):
        # The service keys safety stock by (channel, SKU).
        return ["channel", "product"] if obj else []

    def save_model(self, request, obj, form, change):
        safety = services.safety_stock_save(
            channel_id=obj.channel_id,
            product_id=obj.product_id,
            qty=obj.qty,
            actor=request.user,
            reason=ADMIN_REASON,
        )
        obj.pk = safety.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.safety_stock_delete(
            channel_id=obj.channel_id,
            product_id=obj.product_id,
            actor=request.user,
            reason=ADMIN_REASON,
        )

    def delete_queryset(self, request, queryset):
        for safety in queryset:
            self.delete_model(request, safety)


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
