from django.urls import path

from warehouse import count_views, views

urlpatterns = [
    path("", views.warehouse_home, name="warehouse_home"),
    path(
        "sites/<int:warehouse_id>/inbound/",
        views.InboundQueueView.as_view(),
        name="warehouse_queue",
    ),
    path(
        "sites/<int:warehouse_id>/receive/",
        views.ReceiveScanView.as_view(),
        name="warehouse_receive",
    ),
    path(
        "sites/<int:warehouse_id>/receive/<int:case_id>/",
        views.ReceiveCaseView.as_view(),
        name="warehouse_receive_case",
    ),
    path(
        "sites/<int:warehouse_id>/putaway/",
        views.PutawayListView.as_view(),
        name="warehouse_putaway",
    ),
    path("receipts/<int:pk>/", views.ReceiptView.as_view(), name="warehouse_receipt"),
    path("units/", views.UnitListView.as_view(), name="warehouse_units"),
    path("units/<int:pk>/inspect/", views.UnitInspectView.as_view(), name="warehouse_unit_inspect"),
    path(
        "units/<int:pk>/disposition/",
        views.UnitDispositionView.as_view(),
        name="warehouse_unit_disposition",
    ),
    path(
        "putaway/<int:pk>/confirm/",
        views.PutawayConfirmView.as_view(),
        name="warehouse_putaway_confirm",
    ),
    path("quarantine/", views.QuarantineListView.as_view(), name="warehouse_quarantine"),
    path(
        "quarantine/<int:unit_id>/release/",
        views.QuarantineReleaseView.as_view(),
        name="warehouse_quarantine_release",
    ),
    path("counts/", count_views.CountListView.as_view(), name="warehouse_counts"),
    path("counts/<int:pk>/", count_views.CountView.as_view(), name="warehouse_count"),
    path("counts/<int:pk>/submit/", count_views.count_submit, name="warehouse_count_submit"),
    path(
        "counts/<int:pk>/review/",
        count_views.CountReviewView.as_view(),
        name="warehouse_count_review",
    ),
    path(
        "counts/locations/<int:pk>/",
        count_views.CountLocationView.as_view(),
        name="warehouse_count_location",
    ),
    path(
        "counts/locations/<int:pk>/finish/",
        count_views.count_location_finish,
        name="warehouse_count_location_finish",
    ),
    path("counts/api/<int:pk>/", count_views.count_api_lines, name="warehouse_count_api"),
    path(
        "counts/api/locations/<int:pk>/entries/",
        count_views.count_api_entry,
        name="warehouse_count_api_entry",
    ),
    path("rules/", views.DispositionRuleListView.as_view(), name="warehouse_rules"),
    path("rules/new/", views.DispositionRuleEditView.as_view(), name="warehouse_rule_new"),
    path("rules/<int:pk>/", views.DispositionRuleEditView.as_view(), name="warehouse_rule_edit"),
    path("checklists/", views.ChecklistListView.as_view(), name="warehouse_checklists"),
    path(
        "checklists/<slug:department>/",
        views.ChecklistEditView.as_view(),
        name="warehouse_checklist_edit",
    ),
]
