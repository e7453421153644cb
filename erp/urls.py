"""Root URLs: the core screens, each app's screens under its prefix, the API and the admin."""

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from erp import views
from erp.api import exceptions as exceptions_api
from erp.security import SwaggerUIView
from erp.views import exceptions, integrations, integrations_amazon, integrations_threepl
from finance import api as finance_api
from inventory import api as inventory_api
from inventory import urls as inventory_urls
from returns import api as returns_api
from returns import urls as returns_urls

# A path under /api/ that matches nothing is a JSON 404, like every other API error.
handler404 = "erp.api.errors.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("orders/", views.OrderListView.as_view(), name="order_list"),
    path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="order_detail"),
    path("catalog/", views.ProductListView.as_view(), name="product_list"),
    path("catalog/<int:pk>/", views.ProductDetailView.as_view(), name="product_detail"),
    path("exceptions/", exceptions.ExceptionListView.as_view(), name="exception_list"),
    path("exceptions/<int:pk>/", exceptions.ExceptionDetailView.as_view(), name="exception_detail"),
    path(
        "exceptions/<int:pk>/assign/",
        exceptions.ExceptionAssignView.as_view(),
        name="exception_assign",
    ),
    path(
        "exceptions/<int:pk>/escalate/",
        exceptions.ExceptionEscalateView.as_view(),
        name="exception_escalate",
    ),
    path(
        "exceptions/<int:pk>/resolve/",
        exceptions.ExceptionResolveView.as_view(),
        name="exception_resolve",
    ),
    path(
        "exceptions/<int:pk>/dismiss/",
        exceptions.ExceptionDismissView.as_view(),
        name="exception_dismiss",
    ),
    path(
        "exceptions/<int:pk>/notes/", exceptions.ExceptionNoteView.as_view(), name="exception_note"
    ),
    path(
        "integrations/",
        integrations.IntegrationDashboardView.as_view(),
        name="integration_dashboard",
    ),
    path(
        "integrations/amazon/returns/",
        integrations_amazon.AmazonReturnsImportView.as_view(),
        name="amazon_returns_import",
    ),
    path(
        "integrations/3pl/returns/",
        integrations_threepl.ThreePLReturnsImportView.as_view(),
        name="threepl_returns_import",
    ),
    path(
        "integrations/events/<int:pk>/",
        integrations.InboundEventDetailView.as_view(),
        name="inbound_event_detail",
    ),
    path(
        "integrations/events/<int:pk>/replay/",
        integrations.InboundEventReplayView.as_view(),
        name="inbound_event_replay",
    ),
    path("webhooks/", include("erp.webhooks.urls")),
    path("cs/", include("returns.urls")),
    path("warehouse/", include("warehouse.urls")),
    path("finance/", include("finance.urls")),
    path("operations/", include("reporting.urls")),
    path("inventory/", include(inventory_urls.urlpatterns)),
    path("admin/", admin.site.urls),
    path("api/v1/inventory/", include(inventory_urls.api_urlpatterns)),
    path("api/v1/inventory/", include(inventory_api.urlpatterns)),
    path("api/v1/returns/", include(returns_urls.api_urlpatterns)),
    path("api/v1/returns/", include(returns_api.urlpatterns)),
    path("api/v1/finance/", include(finance_api.urlpatterns)),
    path("api/v1/exceptions/", include(exceptions_api.urlpatterns)),
    path("api/v1/kpis/", include("reporting.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # People reach the docs in a browser, so they are sent to sign in; the schema itself is
    # guarded by SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] for API clients too.
    path(
        "api/docs/",
        login_required(SwaggerUIView.as_view(url_name="api_schema")),
        name="api_docs",
    ),
]
