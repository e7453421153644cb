"""How many queries the bench's two hot submits cost through the workflow: a guard against
regressions at today's figures (bench/README.md states the target per request and the
figures through the screens)."""

from tests.factories.warehouse import case_in_transit, shipped_order

from .conftest import inspect, receive

# Measured on PostgreSQL for one unit, every statement counted (the test's own savepoint
# pair and the actor's two permission look-ups included): receipt 22 (39 before the parcel's
# stock went to inventory in one call, units in one insert and no nested savepoints),
# inspection 15 (21 before; 2 of them are this helper's product and category look-ups).
RECEIVE_BUDGET = 22
INSPECT_BUDGET = 15


def test_receiving_and_inspecting_one_unit_stay_within_the_query_budget(
    cs_user, operations_user, warehouse_user, warehouse, shirt, django_assert_max_num_queries
):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    with django_assert_max_num_queries(RECEIVE_BUDGET):
        receipt = receive(case, warehouse, warehouse_user, shirt.gtin)
    unit = receipt.units.get()
    with django_assert_max_num_queries(INSPECT_BUDGET):
        inspect(unit, warehouse_user)
