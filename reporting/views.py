"""Operations screens: dashboards read, they never write."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from erp import selectors


@login_required
@permission_required("erp.access_operations", raise_exception=True)
def operations_home(request: HttpRequest) -> HttpResponse:
    orders_per_day = selectors.orders_per_day(days=30)
    return render(
        request,
        "reporting/operations_home.html",
        {
            "summary": selectors.master_data_summary(),
            "orders_chart": {
                "labels": [row["day"].isoformat() for row in orders_per_day],
                "values": [row["orders"] for row in orders_per_day],
            },
        },
    )
