"""Finance in the Django admin: the chart of accounts, approval limits and return shipping rates
are configured here; periods, the journal and realized recoveries are read-only (periods close
on the period screen, entries and recoveries come from the services)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from erp.admin_mixins import ReadOnlyAdminMixin

from .models import (
    Account,
    ApprovalLimit,
    FiscalPeriod,
    JournalEntry,
    JournalLine,
    RealizedRecovery,
    ReturnShippingRate,
)


@admin.register(Account)
class AccountAdmin(SimpleHistoryAdmin):
    """Renumber, rename or retire accounts; the services post by purpose, so moving a purpose
    to another account sends the next postings there (posted lines stay where they are)."""

    list_display = ["code", "name", "kind", "purpose", "is_active"]
    list_editable = ["is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name"]
    ordering = ["code"]


@admin.register(FiscalPeriod)
class FiscalPeriodAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["label", "start_date", "end_date", "status", "closed_at", "closed_by"]
    list_filter = ["status"]
    list_select_related = ["closed_by"]


class JournalLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = JournalLine
    fields = ["account", "debit", "credit", "memo"]
    readonly_fields = fields
    extra = 0


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "posting_date",
        "period",
        "cause_type",
        "cause_id",
        "currency",
        "memo",
        "reverses",
        "actor",
    ]
    list_filter = ["cause_type", "currency", "period"]
    list_select_related = ["period", "actor", "reverses"]
    search_fields = ["cause_id", "idempotency_key", "memo"]
    date_hierarchy = "posting_date"
    inlines = [JournalLineInline]
    show_full_result_count = False


@admin.register(ApprovalLimit)
class ApprovalLimitAdmin(SimpleHistoryAdmin):
    """Who may approve refunds up to what. The model validates a limit (a group or a user, a
    three-letter currency or blank, not negative, once per group or user and currency) and
    keeps every change in its history (who, when, the values before)."""

    list_display = ["holder", "currency_label", "max_amount"]
    list_filter = ["group", "currency"]
    list_select_related = ["group", "user"]
    search_fields = ["group__name", "user__username"]
    autocomplete_fields = ["user"]
    fields = ["group", "user", "currency", "max_amount"]
    history_list_display = ["group", "user", "currency", "max_amount"]

    @admin.display(description="Group or user", ordering="group__name")
    def holder(self, limit: ApprovalLimit) -> str:
        return f"Group {limit.group.name}" if limit.group_id else f"User {limit.user}"

    @admin.display(description="Currency", ordering="currency")
    def currency_label(self, limit: ApprovalLimit) -> str:
        return limit.currency or "any"


@admin.register(ReturnShippingRate)
class ReturnShippingRateAdmin(SimpleHistoryAdmin):
    """What a return label costs per channel, charged when the customer pays the return
    shipping; a channel without a row is charged finance.amounts.RETURN_SHIPPING_FEE."""

    list_display = ["channel", "amount", "channel_currency"]
    list_select_related = ["channel"]
    fields = ["channel", "amount"]

    @admin.display(description="Currency")
    def channel_currency(self, rate: ReturnShippingRate) -> str:
        return rate.channel.currency


@admin.register(RealizedRecovery)
class RealizedRecoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Recorded on the finance recovery screen, with their journal entries; never edited."""

    list_display = ["recorded_at", "kind", "amount", "currency", "reference", "disposition"]
    list_filter = ["kind", "currency"]
    list_select_related = ["disposition"]
    search_fields = ["reference"]
