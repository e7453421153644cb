"""The access policy, as one table: every named page by every role, anonymous and role-less.

Read a row as "who may open this page, and what happens to the others". A page added to the
app without a row here fails `test_every_named_page_is_in_the_matrix`.
"""

from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.urls import get_resolver, reverse, set_script_prefix

from erp.models import Product
from erp.navigation import nav_items_for, navigation
from erp.roles import Role
from inventory import services as inventory_services
from returns.models import ReturnPhoto
from tests.factories import (
    ExceptionCaseFactory,
    InboundEventFactory,
    LocationFactory,
    ProductFactory,
    ReturnCaseFactory,
    SalesOrderFactory,
    UserFactory,
    WarehouseFactory,
)
from warehouse.models import (
    CountLocation,
    CycleCount,
    Disposition,
    DispositionRule,
    PutawayTask,
    Receipt,
    ReturnUnit,
)


@dataclass(frozen=True)
class Redirect:
    """A 302 to `url_name`; a sign-in page is told, in `next`, which page was asked for."""

    url_name: str
    with_next: bool = False

    def location(self, path: str) -> str:
        url = reverse(self.url_name)
        if not self.with_next:
            return url
        query = QueryDict(mutable=True)
        query["next"] = path
        return f"{url}?{query.urlencode(safe='/')}"


OK = 200
NO = 403
# An action URL takes POST only: a GET from someone allowed to act is "method not allowed",
# which also proves the permission check came first.
POST = 405
LOGIN = Redirect("login", with_next=True)
ADMIN = Redirect("admin:login", with_next=True)
TO_CS = Redirect("cs_home")
TO_WH = Redirect("warehouse_home")
TO_FIN = Redirect("finance_home")
TO_OPS = Redirect("operations_home")
TO_ADM = Redirect("admin:index")

WHO = ("anonymous", "no_role", "cs", "warehouse", "finance", "operations", "administrator")

# fmt: off
ACCESS = {
    #                   anonymous no role  CS      warehouse finance operations administrator
    "home":            (LOGIN,    NO,      TO_CS,  TO_WH,    TO_FIN, TO_OPS,    TO_ADM),
    "order_list":      (LOGIN,    NO,      OK,     NO,       OK,     OK,        OK),
    "order_detail":    (LOGIN,    NO,      OK,     NO,       OK,     OK,        OK),
    "product_list":    (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "product_detail":  (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "cs_home":         (LOGIN,    NO,      OK,     NO,       NO,     OK,        OK),
    "warehouse_home":  (LOGIN,    NO,      NO,     OK,       NO,     NO,        OK),
    "finance_home":    (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    # Refund approvals: finance reads and acts (each action's own permission, limit and
    # segregation of duties are checked by the service: tests/finance/test_approvals.py).
    "refund_queue":    (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    "refund_detail":   (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    "refund_action":   (LOGIN,    NO,      NO,     NO,       POST,   NO,        POST),
    "refund_bulk_approve": (LOGIN, NO,     NO,     NO,       POST,   NO,        POST),
    # A manual partial refund (finance.propose_refund) and realized recovery (reading needs
    # finance.view_realizedrecovery; recording, finance.record_recovery: tests/finance).
    "refund_partial":  (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    "recovery_list":   (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    "recovery_record": (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    # The journal and fiscal periods: finance, and operations managers reading them; reversing
    # an entry, closing a period and exporting the journal are finance's (tests/finance).
    "journal_list":    (LOGIN,    NO,      NO,     NO,       OK,     OK,        OK),
    "journal_entry_detail": (LOGIN, NO,    NO,     NO,       OK,     OK,        OK),
    "journal_entry_reverse": (LOGIN, NO,   NO,     NO,       POST,   NO,        POST),
    "fiscal_period_list": (LOGIN, NO,      NO,     NO,       OK,     OK,        OK),
    "fiscal_period_detail": (LOGIN, NO,    NO,     NO,       OK,     OK,        OK),
    "fiscal_period_close": (LOGIN, NO,     NO,     NO,       POST,   NO,        POST),
    # Reopening a closed period is the controller's (finance.reopen_period: administrator).
    "fiscal_period_reopen": (LOGIN, NO,    NO,     NO,       NO,     NO,        POST),
    "journal_export":  (LOGIN,    NO,      NO,     NO,       OK,     NO,        OK),
    "operations_home": (LOGIN,    NO,      NO,     NO,       NO,     OK,        OK),
    # Dashboards: each role its own (reporting.view_dashboards + the role's access); operations
    # managers every one and the executive overview (reporting.view_all_dashboards). The
    # drill-down list also needs returns.view_returncase.
    "dashboard_index": (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "dashboard_cs":    (LOGIN,    NO,      OK,     NO,       NO,     OK,        OK),
    "dashboard_warehouse": (LOGIN, NO,     NO,     OK,       NO,     OK,        OK),
    "dashboard_finance": (LOGIN,  NO,      NO,     NO,       OK,     OK,        OK),
    "dashboard_operations": (LOGIN, NO,    NO,     NO,       NO,     OK,        OK),
    "dashboard_executive": (LOGIN, NO,     NO,     NO,       NO,     OK,        OK),
    "dashboard_cases": (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "exception_list":  (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "exception_detail": (LOGIN,   NO,      OK,     OK,       OK,     OK,        OK),
    "exception_note":  (LOGIN,    NO,      POST,   POST,     POST,   POST,      POST),
    # Assign, escalate, resolve and dismiss need manage_exceptions.
    "exception_assign": (LOGIN,   NO,      NO,     NO,       NO,     POST,      POST),
    "exception_escalate": (LOGIN, NO,      NO,     NO,       NO,     POST,      POST),
    "exception_resolve": (LOGIN,  NO,      NO,     NO,       NO,     POST,      POST),
    "exception_dismiss": (LOGIN,  NO,      NO,     NO,       NO,     POST,      POST),
    # Returns: every role that handles returned goods or their money may read a case.
    "return_search":   (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "return_queue":    (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "return_detail":   (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    "return_create":   (LOGIN,    NO,      OK,     NO,       NO,     OK,        OK),
    "return_photo":    (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    # Shown with the authorize action; each action has its own permission (tests/returns).
    "return_action":   (LOGIN,    NO,      POST,   NO,       NO,     POST,      POST),
    "returns_api_cases": (NO,     NO,      OK,     OK,       OK,     OK,        OK),
    "policy_list":     (LOGIN,    NO,      OK,     NO,       NO,     OK,        OK),
    "policy_detail":   (LOGIN,    NO,      OK,     NO,       NO,     OK,        OK),
    "policy_action":   (LOGIN,    NO,      NO,     NO,       NO,     POST,      POST),
    # Editing a draft's rules: operations managers (tests/returns/test_policy_editing.py).
    "policy_rule_add": (LOGIN,    NO,      NO,     NO,       NO,     OK,        OK),
    "policy_rule_edit": (LOGIN,   NO,      NO,     NO,       NO,     OK,        OK),
    "policy_rule_delete": (LOGIN, NO,      NO,     NO,       NO,     POST,      POST),
    "policy_rule_move": (LOGIN,   NO,      NO,     NO,       NO,     POST,      POST),
    "returns_api_case": (NO,      NO,      OK,     OK,       OK,     OK,        OK),
    # API transitions take POST, with the CS screen's permission for each (tests/api).
    "returns_api_case_authorize": (NO, NO, POST,   NO,       NO,     POST,      POST),
    "returns_api_case_reject": (NO, NO,    POST,   NO,       NO,     POST,      POST),
    "returns_api_case_cancel": (NO, NO,    POST,   NO,       NO,     POST,      POST),
    "returns_api_case_ship": (NO, NO,      POST,   NO,       NO,     POST,      POST),
    "returns_api_case_deliver": (NO, NO,   POST,   NO,       NO,     POST,      POST),
    "returns_api_case_receive": (NO, NO,   NO,     POST,     NO,     POST,      POST),
    "returns_api_case_inspect": (NO, NO,   NO,     POST,     NO,     POST,      POST),
    "returns_api_case_close": (NO, NO,     NO,     NO,       NO,     POST,      POST),
    "finance_api_refunds": (NO,   NO,      OK,     NO,       OK,     OK,        OK),
    "finance_api_refund": (NO,    NO,      OK,     NO,       OK,     OK,        OK),
    "finance_api_journal_entries": (NO, NO, NO,    NO,       OK,     OK,        OK),
    "finance_api_journal_entry": (NO, NO,  NO,     NO,       OK,     OK,        OK),
    "exceptions_api_list": (NO,   NO,      OK,     OK,       OK,     OK,        OK),
    "exceptions_api_detail": (NO, NO,      OK,     OK,       OK,     OK,        OK),
    "exceptions_api_note": (NO,   NO,      POST,   POST,     POST,   POST,      POST),
    "exceptions_api_assign": (NO, NO,      NO,     NO,       NO,     POST,      POST),
    "exceptions_api_escalate": (NO, NO,    NO,     NO,       NO,     POST,      POST),
    "exceptions_api_resolve": (NO, NO,     NO,     NO,       NO,     POST,      POST),
    "exceptions_api_dismiss": (NO, NO,     NO,     NO,       NO,     POST,      POST),
    "kpis_api_overview": (NO,     NO,      OK,     OK,       OK,     OK,        OK),
    "kpis_api_daily": (NO,        NO,      OK,     OK,       OK,     OK,        OK),
    # The integrations screen and its raw payloads need view_inboundevent; replay needs
    # replay_inboundevent (both: operations managers and administrators).
    "integration_dashboard": (LOGIN, NO,   NO,     NO,       NO,     OK,        OK),
    "inbound_event_detail": (LOGIN, NO,    NO,     NO,       NO,     OK,        OK),
    "inbound_event_replay": (LOGIN, NO,    NO,     NO,       NO,     POST,      POST),
    "amazon_returns_import": (LOGIN, NO,   NO,     NO,       NO,     OK,        OK),
    "threepl_returns_import": (LOGIN, NO,   NO,     NO,       NO,     OK,        OK),
    # Webhooks are not session-authenticated: a signature made with the channel's or
    # account's secret opens them, whoever is signed in, and only by POST, so a GET is 405
    # for everyone. An unsigned or wrongly signed POST is 401 for every role, anonymous
    # included, and writes nothing (tests/integrations/test_webhooks.py).
    "webhook_shopify": (POST,       POST,    POST,   POST,     POST,   POST,      POST),
    "webhook_easypost": (POST,      POST,    POST,   POST,     POST,   POST,      POST),
    "webhook_aftership": (POST,     POST,    POST,   POST,     POST,   POST,      POST),
    "webhook_shippo":  (POST,       POST,    POST,   POST,     POST,   POST,      POST),
    "webhook_shiphero": (POST,      POST,    POST,   POST,     POST,   POST,      POST),
    # Stock screens: the overview and a SKU's page need view_stockbalance; a serial's page
    # view_inventoryunit (customer service answers "where is this unit" too).
    "inventory_overview": (LOGIN, NO,      NO,     OK,       OK,     OK,        OK),
    "inventory_sku":   (LOGIN,    NO,      NO,     OK,       OK,     OK,        OK),
    "inventory_unit":  (LOGIN,    NO,      OK,     OK,       OK,     OK,        OK),
    # The stock API reads with each model's view permission, as the screens do.
    "inventory_api_balances": (NO, NO,     NO,     OK,       OK,     OK,        OK),
    "inventory_api_availability": (NO, NO, OK,     OK,       OK,     OK,        OK),
    "inventory_api_movements": (NO, NO,    NO,     OK,       OK,     OK,        OK),
    "inventory_api_units": (NO,   NO,      OK,     OK,       OK,     OK,        OK),
    "inventory_api_unit": (NO,    NO,      OK,     OK,       OK,     OK,        OK),
    "inventory_api_snapshots": (NO, NO,    NO,     NO,       NO,     POST,      POST),
    "inventory_api_variances": (NO, NO,    NO,     NO,       OK,     OK,        OK),
    "inventory_api_variance": (NO, NO,     NO,     NO,       OK,     OK,        OK),
    # Reconciliation: the control tower, a variance and a run need view_reconciliationvariance
    # (finance reads it too); accepting a variance, starting a run and importing an Amazon
    # report are the operations manager's (accept_variance, run_reconciliation,
    # import_inventoryreport).
    "reconciliation_control_tower": (LOGIN, NO, NO, NO,      OK,     OK,        OK),
    "reconciliation_variance": (LOGIN, NO,  NO,     NO,       OK,     OK,        OK),
    "reconciliation_variance_accept": (LOGIN, NO, NO, NO,    NO,     POST,      POST),
    "reconciliation_run_start": (LOGIN, NO, NO,     NO,       NO,     POST,      POST),
    "reconciliation_run": (LOGIN, NO,      NO,     NO,       OK,     OK,        OK),
    "reconciliation_amazon_import": (LOGIN, NO, NO, NO,      NO,     OK,        OK),
    # Mappings and tolerances: operations managers (view/add/change_externallocation and
    # _reconciliationtolerance); refusals and history are tested in tests/inventory.
    "reconciliation_setup": (LOGIN, NO,    NO,     NO,       NO,     OK,        OK),
    "reconciliation_mapping_new": (LOGIN, NO, NO,  NO,       NO,     OK,        OK),
    "reconciliation_mapping_edit": (LOGIN, NO, NO, NO,       NO,     OK,        OK),
    "reconciliation_tolerance_new": (LOGIN, NO, NO, NO,      NO,     OK,        OK),
    "reconciliation_tolerance_edit": (LOGIN, NO, NO, NO,     NO,     OK,        OK),
    # The admin has its own sign-in page; it sends every non-staff user there too.
    # Warehouse bench (tablets): the warehouse group and operations managers do the bench
    # work (warehouse.receive_parcel, inspect_unit, disposition_unit, complete_putaway).
    "warehouse_queue": (LOGIN,    NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_receive": (LOGIN,  NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_receive_case": (LOGIN, NO,  NO,     OK,       NO,     OK,        OK),
    "warehouse_receipt": (LOGIN,  NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_units": (LOGIN,    NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_unit_inspect": (LOGIN, NO,  NO,     OK,       NO,     OK,        OK),
    "warehouse_unit_disposition": (LOGIN, NO, NO,  OK,       NO,     OK,        OK),
    "warehouse_putaway": (LOGIN,  NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_putaway_confirm": (LOGIN, NO, NO,   POST,     NO,     POST,      POST),
    # Quarantine: the bench sees it (view_quarantinerecord); only operations managers
    # release (release_quarantine), and never the person who quarantined (tests/warehouse).
    "warehouse_quarantine": (LOGIN, NO,    NO,     OK,       NO,     OK,        OK),
    "warehouse_quarantine_release": (LOGIN, NO, NO, NO,      NO,     POST,      POST),
    # Inspection checklists: the bench reads them; operations managers publish versions.
    "warehouse_checklists": (LOGIN, NO,    NO,     OK,       NO,     OK,        OK),
    # Cycle counts: the bench and operations managers count (count_stock) and approve within
    # limits (approve_count); limits and maker-checker are tested in tests/warehouse.
    "warehouse_counts": (LOGIN,   NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_count": (LOGIN,    NO,      NO,     OK,       NO,     OK,        OK),
    "warehouse_count_submit": (LOGIN, NO,  NO,     POST,     NO,     POST,      POST),
    "warehouse_count_review": (LOGIN, NO,  NO,     OK,       NO,     OK,        OK),
    "warehouse_count_location": (LOGIN, NO, NO,    OK,       NO,     OK,        OK),
    "warehouse_count_location_finish": (LOGIN, NO, NO, POST, NO,     POST,      POST),
    "warehouse_count_api": (LOGIN, NO,     NO,     OK,       NO,     OK,        OK),
    "warehouse_count_api_entry": (LOGIN, NO, NO,   POST,     NO,     POST,      POST),
    "warehouse_checklist_edit": (LOGIN, NO, NO,    NO,       NO,     OK,        OK),
    # Disposition rules: operations managers list, preview and edit them.
    "warehouse_rules": (LOGIN,    NO,      NO,     NO,       NO,     OK,        OK),
    "warehouse_rule_new": (LOGIN, NO,      NO,     NO,       NO,     OK,        OK),
    "warehouse_rule_edit": (LOGIN, NO,     NO,     NO,       NO,     OK,        OK),
    "admin:index":     (ADMIN,    ADMIN,   ADMIN,  ADMIN,    ADMIN,  ADMIN,     OK),
    "api_docs":        (LOGIN,    OK,      OK,     OK,       OK,     OK,        OK),
    # An API client gets a status, not a redirect to a form.
    "api_schema":      (NO,       OK,      OK,     OK,       OK,     OK,        OK),
    "healthz":         (OK,       OK,      OK,     OK,       OK,     OK,        OK),
    "login":           (OK,       OK,      OK,     OK,       OK,     OK,        OK),
}
# fmt: on

NAVIGATION = {
    "no_role": [],
    "cs": ["Customer service", "Dashboards", "Exceptions", "Orders", "Catalog"],
    "warehouse": ["Warehouse", "Dashboards", "Exceptions", "Catalog", "Stock"],
    "finance": [
        "Finance",
        "Dashboards",
        "Exceptions",
        "Orders",
        "Catalog",
        "Stock",
        "Reconciliation",
    ],
    "operations": [
        "Customer service",
        "Operations",
        "Exceptions",
        "Orders",
        "Catalog",
        "Stock",
        "Quarantine",
        "Reconciliation",
        "Integrations",
    ],
    "administrator": [
        "Customer service",
        "Warehouse",
        "Finance",
        "Operations",
        "Dashboards",
        "Exceptions",
        "Orders",
        "Catalog",
        "Stock",
        "Quarantine",
        "Reconciliation",
        "Integrations",
        "Admin",
    ],
}

ROLE_OF = {
    "cs": Role.CUSTOMER_SERVICE,
    "warehouse": Role.WAREHOUSE,
    "finance": Role.FINANCE,
    "operations": Role.OPERATIONS_MANAGER,
    "administrator": Role.ADMINISTRATOR,
}


@pytest.fixture
def client_as(client, make_user):
    def sign_in(who: str):
        if who == "no_role":
            client.force_login(make_user())
        elif who != "anonymous":
            client.force_login(make_user(ROLE_OF[who]))
        return client

    return sign_in


def stock_unit():
    """A serialized unit, received through the stock service."""
    product = ProductFactory(tracking=Product.Tracking.SERIAL)
    inventory_services.stock_receive(
        product_id=product.pk,
        location_id=LocationFactory().pk,
        qty=1,
        serials=["SN-MATRIX"],
        idempotency_key="matrix-unit",
    )
    return product.units.get()


def reconciliation_pages() -> dict:
    """A variance and a run, for the reconciliation pages (behaviour: tests/inventory)."""
    from django.utils import timezone

    from inventory.models import (
        ExternalLocation,
        ReconciliationRun,
        ReconciliationTolerance,
        ReconciliationVariance,
    )

    variance = ReconciliationVariance.objects.create(
        source="shipbob",
        bucket="sellable",
        product=ProductFactory(),
        scope_id=1,
        taken_at=timezone.now(),
        erp_qty=1,
        external_qty=2,
        difference=1,
        unexplained=1,
        unit_cost=1,
        unexplained_value=1,
        status="over_tolerance",
        computed_at=timezone.now(),
    )
    run = ReconciliationRun.objects.create(kind="full")
    mapping = ExternalLocation.objects.create(
        source="shipbob",
        external_code="MATRIX",
        warehouse=WarehouseFactory(code="matrix-3pl", operator="3pl", provider="shipbob"),
    )
    tolerance = ReconciliationTolerance.objects.create(source="shipbob", units=1)
    return {
        "reconciliation_mapping_edit": {"pk": mapping.pk},
        "reconciliation_tolerance_edit": {"pk": tolerance.pk},
        "reconciliation_variance": {"pk": variance.pk},
        "reconciliation_variance_accept": {"pk": variance.pk},
        "reconciliation_run": {"pk": run.pk},
    }


def bench_work() -> dict:
    """A received parcel as rows: a unit waiting for inspection, one inspected, and a
    put-away task (the bench screens' pages; behaviour is tested in tests/warehouse)."""
    case = ReturnCaseFactory(state="in_transit")
    site = LocationFactory(kind="receiving").warehouse
    user = UserFactory(username="bench-matrix")
    receipt = Receipt.objects.create(
        warehouse=site, case=case, client_token="matrix", packaging_ok=True, received_by=user
    )
    unit = {"receipt": receipt, "case": case, "product": ProductFactory(), "received_by": user}
    received = ReturnUnit.objects.create(scanned_code="r", match="matched", **unit)
    inspected = ReturnUnit.objects.create(
        scanned_code="i", match="matched", state="inspecting", **unit
    )
    decision = Disposition.objects.create(
        unit=inspected,
        suggested_outcome="restock",
        outcome="restock",
        explanation="matrix",
        recovery_basis="none",
        decided_by=user,
        client_token="matrix",
    )
    task = PutawayTask.objects.create(
        disposition=decision, unit=inspected, to_location=LocationFactory(warehouse=site)
    )
    return {
        "warehouse_queue": {"warehouse_id": site.pk},
        "warehouse_receive": {"warehouse_id": site.pk},
        "warehouse_putaway": {"warehouse_id": site.pk},
        "warehouse_receive_case": {"warehouse_id": site.pk, "case_id": case.pk},
        "warehouse_receipt": {"pk": receipt.pk},
        "warehouse_unit_inspect": {"pk": received.pk},
        "warehouse_unit_disposition": {"pk": inspected.pk},
        "warehouse_putaway_confirm": {"pk": task.pk},
        "warehouse_quarantine_release": {"unit_id": received.pk},
        "warehouse_checklist_edit": {"department": "apparel"},
        "warehouse_rule_edit": {
            "pk": DispositionRule.objects.create(name="Matrix", outcome="restock").pk
        },
        **count_pages(site),
    }


def count_pages(site) -> dict:
    """An open count of one location, as rows (its behaviour is tested in tests/warehouse)."""
    count = CycleCount.objects.create(warehouse=site)
    place = CountLocation.objects.create(count=count, location=LocationFactory(warehouse=site))
    return {
        "warehouse_count": {"pk": count.pk},
        "warehouse_count_submit": {"pk": count.pk},
        "warehouse_count_review": {"pk": count.pk},
        "warehouse_count_api": {"pk": count.pk},
        "warehouse_count_location": {"pk": place.pk},
        "warehouse_count_location_finish": {"pk": place.pk},
        "warehouse_count_api_entry": {"pk": place.pk},
    }


def refund_pages(case) -> dict:
    """A refund of `case`, written as a row (its behaviour is tested in tests/finance)."""
    from finance.models import Refund

    refund = Refund.objects.create(
        case=case,
        channel=case.channel,
        customer=case.customer,
        stage="manual",
        method="original_payment",
        currency="USD",
        gross_amount=0,
        amount=0,
        dedupe_key="matrix",
        idempotency_key="matrix",
    )
    return {
        "refund_detail": {"pk": refund.pk},
        "refund_action": {"pk": refund.pk, "action": "approve"},
    }


def journal_pages() -> dict:
    """A posted journal entry and its period (behaviour: tests/finance/test_journal*.py)."""
    from tests.factories.finance import posted_entry

    entry = posted_entry(idempotency_key="matrix-entry")
    return {
        "journal_entry_detail": {"pk": entry.pk},
        "journal_entry_reverse": {"pk": entry.pk},
        "fiscal_period_detail": {"pk": entry.period_id},
        "fiscal_period_close": {"pk": entry.period_id},
        "fiscal_period_reopen": {"pk": entry.period_id},
        "journal_export": {"pk": entry.period_id, "fmt": "csv"},
    }


def recovery_pages() -> dict:
    """A liquidated unit's disposition, as rows (behaviour: tests/finance/test_recovery.py)."""
    case = ReturnCaseFactory(state="in_transit")
    user = UserFactory(username="recovery-matrix")
    receipt = Receipt.objects.create(
        warehouse=LocationFactory(kind="receiving").warehouse,
        case=case,
        client_token="recovery-matrix",
        packaging_ok=True,
        received_by=user,
    )
    unit = ReturnUnit.objects.create(
        receipt=receipt,
        case=case,
        product=ProductFactory(),
        received_by=user,
        scanned_code="l",
        match="matched",
        state="inspecting",
    )
    decision = Disposition.objects.create(
        unit=unit,
        suggested_outcome="liquidation",
        outcome="liquidation",
        explanation="matrix",
        recovery_basis="liquidation_price",
        decided_by=user,
        client_token="recovery-matrix",
    )
    return {"recovery_record": {"pk": decision.pk}}


@pytest.fixture
def page_url(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the return photo's file
    order = SalesOrderFactory()
    product = ProductFactory()
    exception = {"pk": ExceptionCaseFactory().pk}
    inbound_event = {"pk": InboundEventFactory().pk}
    case = ReturnCaseFactory()
    unit = stock_unit()
    kwargs = {
        "order_detail": {"pk": order.pk},
        "return_create": {"pk": order.pk},
        "return_detail": {"pk": case.pk},
        "return_photo": {
            "pk": ReturnPhoto.objects.create(
                case=case,
                image=SimpleUploadedFile("p.png", b"png"),
                content_type="image/png",
                size=3,
            ).pk
        },
        "return_action": {"pk": case.pk, "action": "authorize"},
        "returns_api_case": {"rma_number": case.rma_number},
        **{
            f"returns_api_case_{action}": {"rma_number": case.rma_number}
            for action in (
                "authorize",
                "reject",
                "cancel",
                "ship",
                "deliver",
                "receive",
                "inspect",
                "close",
            )
        },
        "policy_detail": {"pk": case.rule_set_id},
        "policy_action": {"pk": case.rule_set_id, "action": "publish"},
        "policy_rule_add": {"pk": case.rule_set_id},
        **{
            name: {"pk": case.rule_set_id, "rule_id": case.deciding_rule_id}
            for name in ("policy_rule_edit", "policy_rule_delete")
        },
        "policy_rule_move": {
            "pk": case.rule_set_id,
            "rule_id": case.deciding_rule_id,
            "direction": "up",
        },
        "product_detail": {"pk": product.pk},
        "inventory_sku": {"key": product.sku},
        "inventory_unit": {"serial": unit.serial},
        "inventory_api_unit": {"serial": unit.serial},
        **bench_work(),
        **refund_pages(case),
        **journal_pages(),
        **recovery_pages(),
        **reconciliation_pages(),
        "inbound_event_detail": inbound_event,
        "inbound_event_replay": inbound_event,
        **{
            f"webhook_{source}": {"account": "main"}
            for source in ("shopify", "easypost", "aftership", "shippo", "shiphero")
        },
        **dict.fromkeys(
            [
                "exception_detail",
                "exception_note",
                "exception_assign",
                "exception_escalate",
                "exception_resolve",
                "exception_dismiss",
                "exceptions_api_detail",
                "exceptions_api_note",
                "exceptions_api_assign",
                "exceptions_api_escalate",
                "exceptions_api_resolve",
                "exceptions_api_dismiss",
            ],
            exception,
        ),
    }
    # The API's detail endpoints read the same objects as their screens.
    kwargs["finance_api_refund"] = kwargs["refund_detail"]
    kwargs["finance_api_journal_entry"] = kwargs["journal_entry_detail"]
    kwargs["inventory_api_variance"] = kwargs["reconciliation_variance"]
    return lambda url_name: reverse(url_name, kwargs=kwargs.get(url_name))


class NavLinks(HTMLParser):
    """Collects (label, href, aria-current) of the links inside <nav aria-label="Main">."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str, str | None]] = []
        self._in_nav = False
        self._link: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav" and attrs.get("aria-label") == "Main":
            self._in_nav = True
        elif tag == "a" and self._in_nav:
            self._link = {"href": attrs["href"], "current": attrs.get("aria-current"), "text": ""}

    def handle_data(self, data):
        if self._link is not None:
            self._link["text"] += data

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False
        elif tag == "a" and self._link is not None:
            link = self._link
            self.links.append((link["text"].strip(), link["href"], link["current"]))
            self._link = None


def nav_links(response) -> list[tuple[str, str, str | None]]:
    parser = NavLinks()
    parser.feed(response.content.decode())
    return parser.links


def test_every_named_page_is_in_the_matrix():
    # Given every URL name the project serves outside the admin's own pages
    names = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    auth_flow = {
        "logout",
        "password_change",
        "password_change_done",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
    }
    # Then each has a row in the access table (the auth flow is Django's own)
    assert names - auth_flow == set(ACCESS) - {"admin:index"}


@pytest.mark.parametrize(
    ("url_name", "who", "expected"),
    [
        pytest.param(url_name, who, expected, id=f"{url_name}-{who}")
        for url_name, row in ACCESS.items()
        for who, expected in zip(WHO, row, strict=True)
    ],
)
def test_access(client_as, page_url, url_name, who, expected):
    # Given someone in a role (or no one) and a page
    client = client_as(who)
    path = page_url(url_name)

    # When they open it
    response = client.get(path)

    # Then the outcome is exactly the one the policy states
    if isinstance(expected, Redirect):
        assert (response.status_code, response["Location"]) == (302, expected.location(path))
    else:
        assert response.status_code == expected


@pytest.mark.parametrize("who", list(NAVIGATION))
def test_navigation_shows_exactly_what_the_role_may_open(client_as, page_url, who):
    # Given a signed-in person on a page of theirs (the role-less get the "no role" page)
    client = client_as(who)
    response = client.get(page_url("home" if who == "no_role" else "product_list"))

    # Then the navigation lists exactly their entries, in order
    links = nav_links(response)
    assert [label for label, _href, _current in links] == NAVIGATION[who]
    # And every entry opens for them
    for label, href, _current in links:
        assert client.get(href).status_code == 200, label


def test_navigation_marks_the_current_section(client_as, page_url):
    client = client_as("operations")

    def current_marks(url_name: str) -> dict[str, str | None]:
        links = nav_links(client.get(page_url(url_name)))
        return {label: current for label, _href, current in links}

    on_list = current_marks("order_list")
    on_detail = current_marks("order_detail")

    assert on_list == {
        "Customer service": None,
        "Operations": None,
        "Exceptions": None,
        "Orders": "page",
        "Catalog": None,
        "Stock": None,
        "Quarantine": None,
        "Reconciliation": None,
        "Integrations": None,
    }
    # A detail page belongs to its list's section, without claiming to be that page.
    assert on_detail["Orders"] == "true"
    assert [current for current in on_detail.values() if current] == ["true"]


def test_navigation_links_follow_the_script_prefix(client_as, page_url):
    # Given the top bar's links, reversed once per process and prefix (erp.navigation)
    client = client_as("operations")
    response = client.get(page_url("order_list"))
    plain = [href for _label, href, _current in nav_links(response)]
    request = response.wsgi_request

    # When the app is served under a prefix (WSGIHandler sets it from SCRIPT_NAME)
    set_script_prefix("/erp/")
    try:
        prefixed = [url for _item, url in navigation(request)["nav_items"]]
    finally:
        set_script_prefix("/")

    # Then every link carries that prefix, and the links without it are unchanged
    assert prefixed == [f"/erp{href}" for href in plain]
    assert [url for _item, url in navigation(request)["nav_items"]] == plain
    assert plain == [reverse(item.url_name) for item in nav_items_for(request.user)]


def test_signed_in_header_names_the_user_and_role(client_as, page_url):
    response = client_as("warehouse").get(page_url("warehouse_home"))

    html = response.content.decode()
    assert '<span class="account-name">warehouse</span>' in html
    assert '<span class="account-role">Warehouse</span>' in html
    # Log out is a POST form (Django 5's LogoutView refuses GET).
    assert f'method="post" action="{reverse("logout")}"' in html


def database_fingerprint() -> dict[str, str]:
    """Every table's content as one hash (sessions and sign-in records aside)."""
    from django.db import connection

    skip = {"django_session", "auth_user"}
    fingerprint = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in skip:
                continue
            rows = "COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')"
            cursor.execute(f'SELECT md5({rows}) FROM "{table}" t')
            fingerprint[table] = cursor.fetchone()[0]
    return fingerprint


@pytest.mark.parametrize(
    "url_name",
    [name for name, row in ACCESS.items() if POST in row and NO in row[1:]],
)
def test_a_refused_action_changes_nothing_and_is_logged(client_as, page_url, caplog, url_name):
    # Given each signed-in role the action is refused to
    import logging

    path = page_url(url_name)
    refused = [who for who, expected in zip(WHO, ACCESS[url_name], strict=True) if expected == NO]
    for who in refused:
        client = client_as(who)
        before = database_fingerprint()

        # When they POST to it anyway
        with caplog.at_level(logging.WARNING, logger="erp.security"):
            caplog.clear()
            response = client.post(path, {"reason": "forged", "note": "forged"})

        # Then it is a 403, no table changed, and the denial was logged
        assert response.status_code == 403, who
        assert database_fingerprint() == before, who
        (record,) = [r for r in caplog.records if r.name == "erp.security"]
        assert (record.method, record.path, record.status) == ("POST", path, 403)
