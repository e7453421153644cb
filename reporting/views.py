"""Operations home and the KPI dashboards: they read, they never write."""

from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from erp import selectors
from reporting.dashboards import DASHBOARDS, Block, dashboards_for
from reporting.exports import table_csv, table_xlsx
from reporting.forms import DashboardFilterForm
from reporting.kpis.drilldown import Drill, drilldown_cases
from reporting.tables import Table

DASHBOARD_PERMISSIONS = ("reporting.view_dashboards", "reporting.view_all_dashboards")
EXPORTERS = {"csv": table_csv, "xlsx": table_xlsx}


@login_required
@permission_required("erp.access_operations", raise_exception=True)
def operations_home(request: HttpRequest) -> HttpResponse:
    orders_per_day = selectors.orders_per_day(days=30)
    return render(
        request,
        "reporting/operations_home.html",
        {
            "dashboards": dashboards_for(request.user),
            "summary": selectors.master_data_summary(),
            "orders_chart": {
                "labels": [row["day"].isoformat() for row in orders_per_day],
                "values": [row["orders"] for row in orders_per_day],
            },
        },
    )


class AnyDashboardMixin(PermissionRequiredMixin):
    """Opened by a role's own dashboards permission or the every-dashboard one."""

    def has_permission(self) -> bool:
        user = self.request.user
        return any(user.has_perm(name) for name in DASHBOARD_PERMISSIONS)


class DashboardIndexView(AnyDashboardMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request, "reporting/dashboard_index.html", {"dashboards": dashboards_for(request.user)}
        )


def tables_of(blocks: list[Block]):
    for block in blocks:
        if block.kind == "table":
            yield block.content
        elif block.kind == "pair":
            yield from tables_of(block.content)


class DashboardView(PermissionRequiredMixin, View):
    """One dashboard; `?export=csv|xlsx&table=<slug>` downloads one of its tables instead.
    Opened by any one of the dashboard's permissions (its role's, or every dashboard's)."""

    slug = ""

    def has_permission(self) -> bool:
        user = self.request.user
        return any(user.has_perm(name) for name in DASHBOARDS[self.slug].permissions)

    def get(self, request: HttpRequest) -> HttpResponse:
        dashboard = DASHBOARDS[self.slug]
        form = DashboardFilterForm(request.GET or None)
        filters = form.filters()
        blocks, trend = dashboard.build(filters)
        export = request.GET.get("export")
        if export:
            table = next((t for t in tables_of(blocks) if t.slug == request.GET.get("table")), None)
            if table is None or export not in EXPORTERS:
                raise Http404("No such table or format.")
            return _export(table, export, dashboard.slug, filters)
        return render(
            request,
            "reporting/dashboard.html",
            {
                "dashboard": dashboard,
                "form": form,
                "filters": filters,
                "query": filters.as_query(),
                "blocks": blocks,
                "trend": trend,
                "computed_at": timezone.now(),
                "others": [d for d in dashboards_for(request.user) if d.slug != dashboard.slug],
            },
        )


def _export(table: Table, fmt: str, slug: str, filters) -> HttpResponse:
    name = f"{slug}-{table.slug}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}"
    return EXPORTERS[fmt](table, name)


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


class DashboardCasesView(AnyDashboardMixin, View):
    """The cases behind a dashboard number, each linking to its case page; needs the case view
    permission too."""

    def has_permission(self) -> bool:
        return super().has_permission() and self.request.user.has_perm("returns.view_returncase")

    def get(self, request: HttpRequest) -> HttpResponse:
        form = DashboardFilterForm(request.GET or None)
        filters = form.filters()
        drill = Drill(
            stage=request.GET.get("stage", ""),
            reason=request.GET.get("reason", ""),
            sku_id=_int_or_none(request.GET.get("sku", "")),
            state=request.GET.get("state", ""),
        )
        return render(
            request,
            "reporting/dashboard_cases.html",
            {
                "form": form,
                "filters": filters,
                "drill": drill,
                "cases": drilldown_cases(filters=filters, drill=drill),
            },
        )
