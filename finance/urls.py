from django.urls import path

from finance import journal_views, refund_views, views

urlpatterns = [
    path("", views.finance_home, name="finance_home"),
    path("refunds/", refund_views.refund_queue, name="refund_queue"),
    path("refunds/approve/", refund_views.refund_bulk_approve, name="refund_bulk_approve"),
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
        "periods/<int:pk>/journal.<str:fmt>",
        journal_views.JournalExportView.as_view(),
        name="journal_export",
    ),
]
