"""Finance screens."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from erp import selectors
from finance import refund_selectors


@login_required
@permission_required("erp.access_finance", raise_exception=True)
def finance_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "finance/finance_home.html",
        {
            "delivered_sales": selectors.delivered_sales_by_channel(days=30),
            "refund_counts": refund_selectors.refund_counts()
            if request.user.has_perm("finance.view_refund")
            else None,
        },
    )
