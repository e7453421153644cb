"""Finance in the Django admin: the chart of accounts is configured here; periods and the
journal are read-only (periods close on the period screen, entries come from the services)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from erp.admin_mixins import ReadOnlyAdminMixin

from .models import Account, FiscalPeriod, JournalEntry, JournalLine


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
