from django.urls import path

from warehouse import views

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
    path("checklists/", views.ChecklistListView.as_view(), name="warehouse_checklists"),
    path(
        "checklists/<slug:department>/",
        views.ChecklistEditView.as_view(),
        name="warehouse_checklist_edit",
    ),
]
