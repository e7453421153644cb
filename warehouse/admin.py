"""Warehouse records in the Django admin. Receipts, units, inspections, decisions, put-away,
quarantine and the rule screen's edit log are read-only (the services write them);
disposition rules are master data an administrator may edit, with history. Checklists change
through `checklist_template_revise` so every version stays as inspections used it."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from erp.admin_mixins import ReadOnlyAdminMixin

from .models import (
    ChecklistTemplate,
    CountPlan,
    CycleCount,
    Disposition,
    DispositionRule,
    DispositionRuleEdit,
    Inspection,
    PutawayTask,
    QuarantineRecord,
    Receipt,
    ReturnUnit,
)


class ReadOnlyAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    pass


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "warehouse", "packaging_ok", "received_by", "received_at"]
    list_filter = ["warehouse", "packaging_ok"]
    search_fields = ["case__rma_number", "client_token"]


@admin.register(ReturnUnit)
class ReturnUnitAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "product", "serial", "lot", "match", "state", "stock_state"]
    list_filter = ["state", "match", "stock_state"]
    search_fields = ["case__rma_number", "serial", "product__sku", "scanned_code"]
    list_select_related = ["case", "product"]


@admin.register(Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["id", "unit", "grade", "template", "inspector", "inspected_at"]
    list_filter = ["grade"]
    list_select_related = ["unit__product", "template", "inspector"]


@admin.register(Disposition)
class DispositionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "unit",
        "suggested_outcome",
        "outcome",
        "overridden",
        "expected_recovery",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["outcome", "overridden"]
    list_select_related = ["unit__product", "decided_by"]


@admin.register(PutawayTask)
class PutawayTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "unit", "to_location", "state", "completed_by", "completed_at"]
    list_filter = ["state"]
    list_select_related = ["unit__product", "to_location", "completed_by"]


@admin.register(QuarantineRecord)
class QuarantineRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "unit", "state", "quarantined_by", "quarantined_at", "released_by"]
    list_filter = ["state"]
    list_select_related = ["unit__product", "quarantined_by", "released_by"]


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(ReadOnlyAdmin):
    list_display = ["department", "version", "is_current", "created_by", "created_at"]
    list_filter = ["department", "is_current"]


@admin.register(DispositionRule)
class DispositionRuleAdmin(SimpleHistoryAdmin):
    list_display = [
        "name",
        "priority",
        "grade",
        "department",
        "category",
        "reason_group",
        "reason_code",
        "channel_kind",
        "outcome",
        "is_active",
    ]
    list_filter = ["outcome", "is_active", "department", "grade"]
    list_editable = ["priority", "is_active"]


@admin.register(DispositionRuleEdit)
class DispositionRuleEditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who changed which rule from the rule screen, when and why (an append-only log)."""

    list_display = ["edited_at", "rule", "note", "edited_by", "client_token"]
    list_filter = ["rule__outcome"]
    list_select_related = ["rule", "edited_by"]
    search_fields = ["rule__name", "note", "edited_by__username", "client_token"]
    date_hierarchy = "edited_at"


@admin.register(CountPlan)
class CountPlanAdmin(SimpleHistoryAdmin):
    """Count plans are master data; "Start a count now" opens a count from each selected plan."""

    list_display = ["name", "warehouse", "kind", "assignee", "every_days", "next_due_at"]
    list_filter = ["warehouse", "kind", "is_active"]
    filter_horizontal = ["locations", "products"]
    actions = ["start_now"]

    @admin.action(description="Start a count now", permissions=["change"])
    def start_now(self, request, queryset):
        from .services.count_plans import count_plan_start

        opened = [count_plan_start(plan_id=plan.pk, actor=request.user) for plan in queryset]
        self.message_user(request, f"{sum(1 for c in opened if c)} count(s) opened.")


@admin.register(CycleCount)
class CycleCountAdmin(ReadOnlyAdmin):
    list_display = ["pk", "warehouse", "state", "assignee", "created_at", "posted_at"]
    list_filter = ["state", "warehouse"]
