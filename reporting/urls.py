from django.urls import path

from reporting import views
from reporting.dashboards import DASHBOARDS

urlpatterns = [
    path("", views.operations_home, name="operations_home"),
    path("dashboards/", views.DashboardIndexView.as_view(), name="dashboard_index"),
    path("dashboards/cases/", views.DashboardCasesView.as_view(), name="dashboard_cases"),
    *[
        path(
            f"dashboards/{slug}/",
            views.DashboardView.as_view(slug=slug),
            name=dashboard.url_name,
        )
        for slug, dashboard in DASHBOARDS.items()
    ],
]
