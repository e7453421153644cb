from django.urls import path

from finance import journal_views, partial_refund_views, recovery_views, refund_views, views

urlpatterns = [
    path("", views.finance_home, name="finance_home"),
    path("refunds/", refund_views.refund_queue, name="refund_queue"),
    path("refunds/approve/", refund_views.refund_bulk_approve, name="refund_bulk_approve"),
    path("refunds/partial/", partial_refund_views.refund_partial, name="refund_partial"),
    path("recovery/", recovery_views.recovery_list, name="recovery_list"),
    path("recovery/<int:pk>/", recovery_views.recovery_record, name="recovery_record"),
    path("refunds/<int:pk>/", refund_views.refund_detail, name="refund_detail"),
    path("refunds/<int:pk>/<slug:action>/", refund_views.refund_action, name="refund_action"),
    path("journal/", journal_views.JournalListView.as_view(), name="journal_list"),
    path(
        "journal/<int:pk>/",
        journal_views.JournalEntryDetailView.as_view(),
        name="journal_entry_detail",
    ),
    path(
        "journal/<int:pk>/reverse/",
        journal_views.JournalEntryReverseView.as_view(),
        name="journal_entry_reverse",
    ),
    path("periods/", journal_views.FiscalPeriodListView.as_view(), name="fiscal_period_list"),
    path(
        "periods/<int:pk>/",
        journal_views.FiscalPeriodDetailView.as_view(),
        name="fiscal_period_detail",
    ),
    path(
        "periods/<int:pk>/close/",
        journal_views.FiscalPeriodCloseView.as_view(),
        name="fiscal_period_close",
    ),
    path(
        "periods/<int:pk>/reopen/",
        journal_views.FiscalPeriodReopenView.as_view(),
        name="fiscal_period_reopen",
    ),
    path(
        "periods/<int:pk>/journal.<str:fmt>",
        journal_views.JournalExportView.as_view(),
        name="journal_export",
    ),
]
