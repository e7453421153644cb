"""Core screens: the role-aware home, order look-up and the catalog."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.generic import DetailView, ListView

from erp import selectors
from erp.models import Category, Channel, Product, SalesOrder
from erp.roles import Role, roles_of

# Each role's workspace. An operations manager may also use the customer-service screens and
# an administrator every screen, so the role decides the home, not the permissions.
ROLE_HOME = {
    Role.CUSTOMER_SERVICE: "cs_home",
    Role.WAREHOUSE: "warehouse_home",
    Role.FINANCE: "finance_home",
    Role.OPERATIONS_MANAGER: "operations_home",
    Role.ADMINISTRATOR: "admin:index",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to their (first) role's workspace."""
    roles = roles_of(request.user)
    if roles:
        return redirect(ROLE_HOME[roles[0]])
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "erp/no_role.html", status=403)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for the load balancer: the app answers and the database does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


class OrderListView(PermissionRequiredMixin, ListView):
    permission_required = "erp.view_salesorder"
    template_name = "erp/order_list.html"
    paginate_by = 50

    def get_queryset(self):
        return selectors.order_list(
            query=self.request.GET.get("q", ""), channel_code=self.request.GET.get("channel", "")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["query"] = self.request.GET.get("q", "")
        context["channel_code"] = self.request.GET.get("channel", "")
        context["channels"] = Channel.objects.order_by("name")
        return context


class OrderDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "erp.view_salesorder"
    template_name = "erp/order_detail.html"
    context_object_name = "order"

    def get_object(self, queryset=None):
        try:
            return selectors.order_get(pk=self.kwargs["pk"])
        except SalesOrder.DoesNotExist as error:
            raise Http404("No such order") from error


class ProductListView(PermissionRequiredMixin, ListView):
    permission_required = "erp.view_product"
    template_name = "erp/product_list.html"
    paginate_by = 50

    def get_queryset(self):
        return selectors.product_list(
            query=self.request.GET.get("q", ""),
            department=self.request.GET.get("department", ""),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["query"] = self.request.GET.get("q", "")
        context["department"] = self.request.GET.get("department", "")
        context["departments"] = Category.Department.choices
        return context


class ProductDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "erp.view_product"
    template_name = "erp/product_detail.html"
    context_object_name = "product"

    def get_object(self, queryset=None):
        try:
            return selectors.product_get(pk=self.kwargs["pk"])
        except Product.DoesNotExist as error:
            raise Http404("No such product") from error
