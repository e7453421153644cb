"""The navigation bar: each entry names what opens it, and only what the user may use shows."""

from dataclasses import dataclass
from functools import cache

from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

from erp.roles import roles_of


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    section: str
    permission: str = ""
    # The Django admin is opened by the staff flag, not by a permission.
    staff_only: bool = False

    def allows(self, user) -> bool:
        if self.staff_only:
            return user.is_staff
        return user.has_perm(self.permission)


NAVIGATION = [
    NavItem("Customer service", "cs_home", "cs", permission="erp.access_customer_service"),
    NavItem("Warehouse", "warehouse_home", "warehouse", permission="erp.access_warehouse"),
    NavItem("Finance", "finance_home", "finance", permission="erp.access_finance"),
    NavItem("Operations", "operations_home", "operations", permission="erp.access_operations"),
    NavItem("Dashboards", "dashboard_index", "dashboards", permission="reporting.view_dashboards"),
    NavItem("Exceptions", "exception_list", "exceptions", permission="erp.view_exceptioncase"),
    NavItem("Orders", "order_list", "orders", permission="erp.view_salesorder"),
    NavItem("Catalog", "product_list", "catalog", permission="erp.view_product"),
    NavItem("Stock", "inventory_overview", "stock", permission="inventory.view_stockbalance"),
    NavItem(
        "Quarantine",
        "warehouse_quarantine",
        "quarantine",
        permission="warehouse.release_quarantine",
    ),
    NavItem(
        "Reconciliation",
        "reconciliation_control_tower",
        "reconciliation",
        permission="inventory.view_reconciliationvariance",
    ),
    NavItem(
        "Integrations", "integration_dashboard", "integrations", permission="erp.view_inboundevent"
    ),
    NavItem("Admin", "admin:index", "admin", staff_only=True),
]
# The return policy and the disposition rules are opened from the operations home ("Rules"),
# not the top bar: an operations manager's entries must fit one line at laptop widths.


def nav_items_for(user) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    return [item for item in NAVIGATION if item.allows(user)]


@cache
def _nav_urls(script_prefix: str, urlconf: str | None) -> dict[str, str]:
    """Each entry's URL under `script_prefix` (what `reverse` puts in front of every path) in
    `urlconf` (None: ROOT_URLCONF), the two things it depends on. Reversed once per process
    and prefix: a dozen `reverse` calls on every page cost about 0.5 ms of CPU."""
    return {item.url_name: reverse(item.url_name, urlconf=urlconf) for item in NAVIGATION}


def navigation(request: HttpRequest) -> dict:
    """Template context processor for the top bar.

    `nav_items`: (item, url) pairs the signed-in user may open; `nav_section`: the section of
    the entry whose URL is the longest prefix of the current path (a detail page highlights
    its list); `user_roles`: the user's roles, shown beside their name.
    """
    user = getattr(request, "user", None)
    if user is None:
        return {"nav_items": [], "nav_section": "", "user_roles": []}
    urls = _nav_urls(get_script_prefix(), get_urlconf())
    items = [(item, urls[item.url_name]) for item in nav_items_for(user)]
    matches = [(len(url), item.section) for item, url in items if request.path.startswith(url)]
    return {
        "nav_items": items,
        "nav_section": max(matches)[1] if matches else "",
        "user_roles": roles_of(user),
    }
