"""Reads for the screens and for finance (I3): what they return and how many queries."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from returns import workflow
from tests.factories.warehouse import case_in_transit, shipped_order
from warehouse import selectors
from warehouse.selectors import UnitOutcome, case_unit_outcomes

from .conftest import inspect, receive, token


def receive_many(cs_user, operations_user, warehouse_user, warehouse, shirt, n):
    order = shipped_order((shirt, n, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    return case, receive(case, warehouse, warehouse_user, *[shirt.gtin] * n)


def test_case_unit_outcomes_tell_finance_what_came_back_and_what_was_decided(
    cs_user, operations_user, warehouse_user, warehouse, shirt, other_shirt
):
    order = shipped_order((shirt, 2, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receipt = receive(case, warehouse, warehouse_user, shirt.gtin, shirt.gtin)
    first, _second = receipt.units.order_by("id")
    inspect(first, warehouse_user, grade="A")
    workflow.return_unit_disposition(unit_id=first.pk, client_token=token(), actor=warehouse_user)

    outcomes = case_unit_outcomes(case_id=case.pk)

    line_id = case.lines.get().pk
    assert outcomes == [
        UnitOutcome(
            return_line_id=line_id,
            product_id=shirt.pk,
            serial="",
            lot="",
            matched=True,
            grade="A",
            disposition="restock",
            inspected_by_id=warehouse_user.pk,
            received_by_id=warehouse_user.pk,
            expected_recovery=Decimal("30.00"),
        ),
        UnitOutcome(
            return_line_id=line_id,
            product_id=shirt.pk,
            serial="",
            lot="",
            matched=True,
            grade="",
            disposition="",
            inspected_by_id=None,
            received_by_id=warehouse_user.pk,
            expected_recovery=None,
        ),
    ]


def test_case_unit_outcomes_is_three_queries_whatever_the_units(
    cs_user, operations_user, warehouse_user, warehouse, shirt, django_assert_max_num_queries
):
    case, _ = receive_many(cs_user, operations_user, warehouse_user, warehouse, shirt, 6)
    with django_assert_max_num_queries(3):
        assert len(case_unit_outcomes(case_id=case.pk)) == 6


def test_screen_selectors_have_constant_query_counts(
    cs_user, operations_user, warehouse_user, warehouse, shirt, django_assert_max_num_queries
):
    case, receipt = receive_many(cs_user, operations_user, warehouse_user, warehouse, shirt, 5)
    with django_assert_max_num_queries(2) as read:
        got = selectors.receipt_get(pk=receipt.pk)
        assert [u.product.sku for u in got.unit_list] == [shirt.sku] * 5
        assert [u.location.code for u in got.unit_list] == ["DOCK"] * 5
    # the receipt page's columns only: no decisions, inspections or categories
    sql = " ".join(q["sql"] for q in read.captured_queries)
    unread = ("warehouse_disposition", "warehouse_inspection", '"scans"', "category")
    assert [name for name in unread if name in sql] == []
    with django_assert_max_num_queries(3):
        units = selectors.case_units(case_id=case.pk)
        assert [u.location.code for u in units] == ["DOCK"] * 5


def test_the_quarantine_list_shows_aging_oldest_first(
    cs_user,
    operations_user,
    warehouse_user,
    warehouse,
    shirt,
    other_shirt,
    django_assert_max_num_queries,
):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receive(case, warehouse, warehouse_user, other_shirt.gtin, other_shirt.gtin, other_shirt.gtin)
    later = timezone.now() + timedelta(days=3)
    with django_assert_max_num_queries(1):
        rows = selectors.quarantine_list(warehouse_id=warehouse.pk, now=later)
        assert [(row.unit.product.sku, row.age_days) for row in rows] == [(other_shirt.sku, 3)] * 3
        assert {row.record.quarantined_by.username for row in rows} == {warehouse_user.username}


def test_putaway_tasks_are_listed_with_their_destination(
    cs_user, operations_user, warehouse_user, warehouse, shirt, django_assert_max_num_queries
):
    _case, receipt = receive_many(cs_user, operations_user, warehouse_user, warehouse, shirt, 3)
    for unit in receipt.units.all():
        inspect(unit, warehouse_user, grade="A")
        workflow.return_unit_disposition(
            unit_id=unit.pk, client_token=token(), actor=warehouse_user
        )
    with django_assert_max_num_queries(1):
        tasks = list(selectors.putaway_task_list(warehouse_id=warehouse.pk))
        assert [(t.unit.product.sku, t.to_location.code, t.disposition.outcome) for t in tasks] == [
            (shirt.sku, "A-01", "restock")
        ] * 3
