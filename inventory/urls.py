"""Stock screens under /inventory/ and the stock API under /api/v1/inventory/ (both included
from erp/urls.py)."""

from django.urls import path

from inventory import api, views, views_reconciliation, views_reconciliation_setup

urlpatterns = [
    path("", views.StockOverviewView.as_view(), name="inventory_overview"),
    path("sku/<str:key>/", views.StockSkuView.as_view(), name="inventory_sku"),
    path("units/<str:serial>/", views.UnitDetailView.as_view(), name="inventory_unit"),
    path(
        "reconciliation/",
        views_reconciliation.ControlTowerView.as_view(),
        name="reconciliation_control_tower",
    ),
    path(
        "reconciliation/variances/<int:pk>/",
        views_reconciliation.VarianceDetailView.as_view(),
        name="reconciliation_variance",
    ),
    path(
        "reconciliation/variances/<int:pk>/accept/",
        views_reconciliation.VarianceAcceptView.as_view(),
        name="reconciliation_variance_accept",
    ),
    path(
        "reconciliation/runs/start/",
        views_reconciliation.RunStartView.as_view(),
        name="reconciliation_run_start",
    ),
    path(
        "reconciliation/runs/<int:pk>/",
        views_reconciliation.RunDetailView.as_view(),
        name="reconciliation_run",
    ),
    path(
        "reconciliation/import/amazon/",
        views_reconciliation.AmazonImportView.as_view(),
        name="reconciliation_amazon_import",
    ),
    path(
        "reconciliation/setup/",
        views_reconciliation_setup.ReconciliationSetupView.as_view(),
        name="reconciliation_setup",
    ),
    path(
        "reconciliation/setup/mappings/new/",
        views_reconciliation_setup.MappingEditView.as_view(),
        name="reconciliation_mapping_new",
    ),
    path(
        "reconciliation/setup/mappings/<int:pk>/",
        views_reconciliation_setup.MappingEditView.as_view(),
        name="reconciliation_mapping_edit",
    ),
    path(
        "reconciliation/setup/tolerances/new/",
        views_reconciliation_setup.ToleranceEditView.as_view(),
        name="reconciliation_tolerance_new",
    ),
    path(
        "reconciliation/setup/tolerances/<int:pk>/",
        views_reconciliation_setup.ToleranceEditView.as_view(),
        name="reconciliation_tolerance_edit",
    ),
]

api_urlpatterns = [
    path("balances/", api.BalanceListView.as_view(), name="inventory_api_balances"),
    path("availability/", api.AvailabilityListView.as_view(), name="inventory_api_availability"),
    path("movements/", api.MovementListView.as_view(), name="inventory_api_movements"),
    path("units/", api.UnitListView.as_view(), name="inventory_api_units"),
    path("units/<str:serial>/", api.UnitDetailView.as_view(), name="inventory_api_unit"),
]
