"""Return policies and cases in the Django admin. Cases are read-only here (only the services
change their state); rules are edited while their rule set is a draft."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import PolicyRule, PolicyRuleSet, ReturnCase, ReturnLine


class PolicyRuleInline(admin.StackedInline):
    model = PolicyRule
    extra = 0

    def has_change_permission(self, request, obj=None) -> bool:
        # A published or retired set decided real cases: it is never edited.
        return obj is None or obj.state == PolicyRuleSet.State.DRAFT

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(PolicyRuleSet)
class PolicyRuleSetAdmin(SimpleHistoryAdmin):
    list_display = ["version", "name", "state", "published_at"]
    readonly_fields = ["state", "published_at", "published_by"]
    inlines = [PolicyRuleInline]


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ReturnLine._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReturnCase)
class ReturnCaseAdmin(SimpleHistoryAdmin):
    list_display = ["rma_number", "state", "channel", "customer", "risk_score", "requested_at"]
    list_filter = ["state", "risk_level", "channel"]
    search_fields = ["rma_number", "tracking_number", "customer__email", "order__number"]
    list_select_related = ["channel", "customer"]
    inlines = [ReturnLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReturnCase._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
