"""Customer-service screens."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from erp import selectors


@login_required
@permission_required("erp.access_customer_service", raise_exception=True)
def cs_home(request: HttpRequest) -> HttpResponse:
    """Where an agent starts: find the order a customer is calling about."""
    recent = selectors.order_list().filter(delivered_at__isnull=False)[:15]
    return render(request, "returns/cs_home.html", {"recent_orders": recent})
