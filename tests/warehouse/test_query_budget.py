"""How many queries the bench's two hot submits cost: through the workflow (the budget the
issue sets, 15) and through the screens as the bench posts them (bench/README.md states the
target per request and the figures)."""

import uuid

from django.contrib.auth import load_backend
from django.urls import reverse

from tests.factories.warehouse import case_in_transit, shipped_order

from .conftest import inspect, receive

# Measured on PostgreSQL for one unit, every statement counted, the test's own savepoint pair
# included. The actor is loaded as each request loads it (the permissions come with the user:
# erp.auth_backends). Receipt 12: case lock, one read of the lines with their shipped items,
# components, earlier parcels and the token's receipt, products, locations, receipt with its
# history row (one statement), units + history, one stock call, case with its history row
# (one statement), outbox message with the case's note of it (one statement). Inspection
# 10 — case lock, unit lock with the token's inspection, checklist, inspection with its
# history row, unit + history, "any unit still waiting?", case with its history row — plus
# this helper's product and category look-ups.
RECEIVE_BUDGET = 12
INSPECT_BUDGET = 12
# Through the screens: add the session and the user; the inspection form's unit and
# checklist are the view's, and the workflow is handed that checklist (see bench/README.md).
RECEIVE_SCREEN_BUDGET = 14
INSPECT_SCREEN_BUDGET = 13
# The receipt page the receive redirects to (the bench follows the redirect).
RECEIPT_PAGE_BUDGET = 4
BACKEND = "erp.auth_backends.PermissionsPreloadingBackend"


def as_a_request_loads_it(user):
    return load_backend(BACKEND).get_user(user.pk)


def test_receiving_and_inspecting_one_unit_stay_within_the_query_budget(
    cs_user, operations_user, warehouse_user, warehouse, shirt, django_assert_max_num_queries
):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    actor = as_a_request_loads_it(warehouse_user)
    with django_assert_max_num_queries(RECEIVE_BUDGET):
        receipt = receive(case, warehouse, actor, shirt.gtin)
    unit = receipt.units.get()
    actor = as_a_request_loads_it(warehouse_user)
    with django_assert_max_num_queries(INSPECT_BUDGET):
        inspect(unit, actor)


def receive_through_the_screen(client, warehouse, case, product):
    """The tablet's receive POST of the case's one unit (the client is signed in)."""
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    posted = {"client_token": uuid.uuid4().hex, "scans": [product.gtin], "packaging_ok": "on"}
    return client.post(url, posted, secure=True)


def test_the_receive_and_inspection_posts_stay_within_the_screen_budget(
    client,
    cs_user,
    operations_user,
    warehouse_user,
    warehouse,
    shirt,
    django_assert_max_num_queries,
):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    client.force_login(warehouse_user)
    with django_assert_max_num_queries(RECEIVE_SCREEN_BUDGET):
        response = receive_through_the_screen(client, warehouse, case, shirt)
    assert response.status_code == 302
    unit = case.receipts.get().units.get()
    answers = {
        f"item_{key}": "yes" if value else "no"
        for key, value in {
            "tags_attached": True,
            "worn_or_washed": False,
            "stains": False,
            "odour": False,
        }.items()
    }
    posted = {"client_token": uuid.uuid4().hex, "grade": "A", "notes": "", **answers}
    with django_assert_max_num_queries(INSPECT_SCREEN_BUDGET):
        response = client.post(
            reverse("warehouse_unit_inspect", args=[unit.pk]), posted, secure=True
        )
    assert response.status_code == 302
    unit.refresh_from_db()
    assert unit.state == "inspecting"


def test_the_receipt_page_a_receive_lands_on_reads_the_case_with_the_receipt(
    client,
    cs_user,
    operations_user,
    warehouse_user,
    warehouse,
    shirt,
    django_assert_max_num_queries,
):
    # given a parcel received through the screen
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    client.force_login(warehouse_user)
    receipt_url = receive_through_the_screen(client, warehouse, case, shirt)["Location"]

    # when the page the receive redirects to is opened: the session (a query without
    # CACHE_URL), the user, the receipt with its warehouse, receiver and case's RMA number,
    # its units with their products and locations
    with django_assert_max_num_queries(RECEIPT_PAGE_BUDGET) as page:
        response = client.get(receipt_url, secure=True)

    # then it names the case as before, read with the receipt rather than on its own
    assert response.status_code == 200
    assert not [q for q in page.captured_queries if 'FROM "returns_returncase"' in q["sql"]]
    assert f'Received <span class="mono">{case.rma_number}</span>' in response.content.decode()
