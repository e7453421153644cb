"""Warehouse screens, laid out for tablets at the packing bench."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from erp import selectors


@login_required
@permission_required("erp.access_warehouse", raise_exception=True)
def warehouse_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "warehouse/warehouse_home.html",
        {"warehouses": selectors.warehouse_list_with_locations()},
    )
