"""Stock screens under /inventory/ and the stock API under /api/v1/inventory/ (both included
from erp/urls.py)."""

from django.urls import path

from inventory import api, views

urlpatterns = [
    path("", views.StockOverviewView.as_view(), name="inventory_overview"),
    path("sku/<str:key>/", views.StockSkuView.as_view(), name="inventory_sku"),
    path("units/<str:serial>/", views.UnitDetailView.as_view(), name="inventory_unit"),
]

api_urlpatterns = [
    path("balances/", api.BalanceListView.as_view(), name="inventory_api_balances"),
    path("availability/", api.AvailabilityListView.as_view(), name="inventory_api_availability"),
    path("movements/", api.MovementListView.as_view(), name="inventory_api_movements"),
    path("units/", api.UnitListView.as_view(), name="inventory_api_units"),
    path("units/<str:serial>/", api.UnitDetailView.as_view(), name="inventory_api_unit"),
]
