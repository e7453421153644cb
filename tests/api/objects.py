"""What the API tests call the endpoints on: cases in each state, a refund, a variance, and
valid request bodies. Built through the services where the API's own effects depend on it."""

import json
from datetime import UTC, datetime

from django.contrib.auth.models import Group
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from erp.roles import Role
from finance.models import Refund
from inventory.models import ReconciliationVariance
from returns import services
from returns.models import ReturnCase
from tests.factories import ProductFactory, ReturnCaseFactory, UserFactory, WarehouseFactory
from tests.factories.warehouse import case_in_transit
from tests.returns.conftest import delivered_order


def case_in(state: str) -> ReturnCase:
    """A case in `state`: opened, authorized and shipped through the services (as the system),
    or, held for review, as a row with the policy's decision the services read."""
    if state == "pending_review":
        decision = {"summary": "Held for manual review", "lines": [{"return_window_days": 30}]}
        return ReturnCaseFactory(state=state, decision=decision)
    manager = UserFactory()
    manager.groups.set(Group.objects.filter(name=Role.OPERATIONS_MANAGER))
    case = case_in_transit(delivered_order(), agent=manager, manager=manager)
    if state == "authorized":
        # The same path, one step short: a shipped case cannot go back.
        return ReturnCaseFactory(state=state, decision=case.decision, order=case.order)
    steps = {
        "delivered": [services.return_case_mark_delivered],
        "received": [services.return_case_mark_delivered, services.return_case_receive],
        "inspected": [
            services.return_case_mark_delivered,
            services.return_case_receive,
            services.return_case_inspect,
        ],
    }
    for step in steps.get(state, []):
        case = step(case_id=case.pk, actor=manager)
    assert case.state == state
    return case


def variance():
    return ReconciliationVariance.objects.create(
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


def refund():
    case = ReturnCaseFactory()
    return Refund.objects.create(
        case=case,
        channel=case.channel,
        customer=case.customer,
        stage="manual",
        method="original_payment",
        currency="USD",
        gross_amount=0,
        amount=0,
        dedupe_key=f"matrix-{case.pk}",
        idempotency_key=f"matrix-{case.pk}",
    )


def new_return(objects):
    order = delivered_order()
    return {
        "channel": order.channel.code,
        "order_number": order.number,
        "resolution": "refund",
        "lines": [
            {
                "line_number": 1,
                "quantity": 1,
                "reason_code": "SIZE_TOO_SMALL",
                "claimed_condition": "unopened",
            }
        ],
    }


def snapshot(objects):
    product = ProductFactory()
    warehouse = WarehouseFactory()
    return {
        "source": "shiphero",
        "external_ref": f"matrix-{product.pk}",
        "taken_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        "warehouse": warehouse.code,
        "lines": [{"sku": product.sku, "on_hand": 3, "available": 2}],
    }


def api_schema() -> dict:
    """The OpenAPI document the API serves, as JSON data."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))
