"""Warehouse and refund events on the CS case timeline: the receipt with each unit's match
outcome, inspection grades, dispositions, quarantine and release, and each refund's steps
(proposed, held, released, approved by whom), in time order with their actors, at a constant
number of queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance.models import RefundMethod
from finance.services.refunds import refund_approve, refund_hold_release, refund_holds_apply
from returns import workflow
from returns.selectors import (
    REFUND_TIMELINE_FIELDS,
    TIMELINE_FIELDS,
    return_case_get,
    return_case_timeline,
)
from tests.finance.refund_cases import (
    APPAREL_ANSWERS,
    open_case,
    receive,
    refund_of,
    ship,
    token,
)
from warehouse.models import ReturnUnit

pytestmark = pytest.mark.django_db


def through_the_warehouse(
    case, *, agent, receiver, inspector, manager, checker, quarantine_first=True
):
    """Receive every unit, inspect each at grade A, quarantine the first (released to restock
    by `checker`) and accept the suggestion for the others."""
    ship(case, agent)
    receive(case, receiver)
    units = list(ReturnUnit.objects.filter(case=case).order_by("pk"))
    for unit in units:
        workflow.return_unit_inspect(
            unit_id=unit.pk,
            answers=APPAREL_ANSWERS,
            grade="A",
            client_token=token("inspection"),
            actor=inspector,
        )
    for index, unit in enumerate(units):
        if index == 0 and quarantine_first:
            workflow.return_unit_disposition(
                unit_id=unit.pk,
                outcome="quarantine",
                override_reason="Smells of smoke",
                client_token=token("disposition"),
                actor=manager,
            )
        else:
            workflow.return_unit_disposition(
                unit_id=unit.pk, client_token=token("disposition"), actor=inspector
            )
    if quarantine_first:
        workflow.quarantine_release(
            unit_id=units[0].pk,
            to_outcome="restock",
            reason="Aired out",
            client_token=token("release"),
            actor=checker,
        )
    return units


@pytest.fixture
def people(cs_user, warehouse_user, operations_user, finance_user, make_user):
    return {
        "agent": cs_user,
        "receiver": warehouse_user,
        "inspector": warehouse_user,
        "manager": operations_user,
        "checker": make_user("operations_manager", username="checker"),
        "approver": finance_user,
    }


def test_the_timeline_tells_the_warehouse_and_refund_story_in_order(people):
    # given: a two-unit case received, inspected, one unit quarantined and released, the
    # refund proposed, held, released and approved
    case = open_case(people["agent"], quantity=2)
    units = through_the_warehouse(
        case,
        agent=people["agent"],
        receiver=people["receiver"],
        inspector=people["inspector"],
        manager=people["manager"],
        checker=people["checker"],
    )
    refund = refund_of(case)
    assert refund is not None
    refund_holds_apply(case_id=case.pk, reason="A fraud review is open on the case")
    refund_hold_release(refund_id=refund.pk, actor=people["approver"])
    refund_approve(refund_id=refund.pk, actor=people["approver"], note="Checked the photos")

    # when
    case = return_case_get(pk=case.pk)
    timeline = return_case_timeline(case=case, exceptions=[])

    # then: the warehouse's story, each step by the person who did it
    warehouse = [(e.title, e.who) for e in timeline if e.kind == "warehouse"]
    sku = units[0].product.sku
    first, second = (f"Unit #{u.pk} ({sku})" for u in units)
    receiver = people["receiver"].username
    assert warehouse[0][0].startswith("Parcel received at ")
    assert warehouse[0][1] == receiver
    receipt = next(e for e in timeline if e.title.startswith("Parcel received"))
    assert receipt.items == (f"{first}: matched", f"{second}: matched")
    titles = [title for title, _ in warehouse]
    assert f"{first} inspected: grade A · as new" in titles
    assert f"{second} inspected: grade A · as new" in titles
    assert (f"{first} → quarantine", people["manager"].username) in warehouse
    assert (f"{first} quarantined", people["manager"].username) in warehouse
    assert (
        f"{first} released from quarantine to restock",
        people["checker"].username,
    ) in warehouse
    assert (f"{second} → restock", people["inspector"].username) in warehouse
    override = next(e for e in timeline if e.title == f"{first} → quarantine")
    assert any("Smells of smoke" in item for item in override.items)
    # and the refund's: proposed, held, released, approved by the approver
    steps = [(e.title.split(" ", 4)[-1], e.who) for e in timeline if e.kind == "refund"]
    assert [step for step, _ in steps][:1] in (["proposed"], ["awaiting approval"])
    assert ("held", "System") in steps
    assert ("released from hold, awaiting approval", people["approver"].username) in steps
    assert steps[-1] == ("approved", people["approver"].username)
    held = next(e for e in timeline if e.kind == "refund" and e.title.endswith(" held"))
    assert held.body == "A fraud review is open on the case"
    # and everything is in time order, the receipt before the inspections before the refund
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    kinds = [e.kind for e in timeline]
    assert kinds.index("warehouse") < kinds.index("refund")


def test_the_case_page_shows_them_at_a_constant_query_count(client, people):
    # given: a case with one unit (a few events) and one with ten (over twenty)
    few = open_case(people["agent"], quantity=1)
    many = open_case(people["agent"], quantity=10)
    for case in (few, many):
        through_the_warehouse(
            case,
            agent=people["agent"],
            receiver=people["receiver"],
            inspector=people["inspector"],
            manager=people["manager"],
            checker=people["checker"],
            quarantine_first=False,
        )
    client.force_login(people["manager"])

    # when
    counts, sizes = [], []
    for case in (few, many):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("return_detail", args=[case.pk]))
        assert response.status_code == 200
        counts.append(len(queries))
        sizes.append(response.content.decode().count('class="timeline-warehouse"'))

    # then
    assert sizes[0] <= 3
    assert sizes[1] >= 20
    assert counts[0] == counts[1]


def test_the_history_is_read_without_the_columns_no_entry_shows(people):
    # given: a case with a history (requested, then shipped)
    case = open_case(people["agent"], quantity=1)
    ship(case, people["agent"])
    case = return_case_get(pk=case.pk)

    # when its timeline is built
    with CaptureQueriesContext(connection) as queries:
        timeline = return_case_timeline(case=case, exceptions=[])

    # then the history read loads only the columns an entry shows, not the case's ~30 others
    (history,) = [q["sql"] for q in queries if "historicalreturncase" in q["sql"]]
    selected = set(
        re.findall(r'"returns_historicalreturncase"\."(\w+)"', history.split(" FROM ")[0])
    )
    assert selected == {
        "history_id",
        "history_date",
        "history_change_reason",
        "history_user_id",
        *TIMELINE_FIELDS,
    }
    # and the history entries still say who changed what, as the full records do
    records = case.history.select_related("history_user").order_by("history_date", "pk")
    entries = [e for e in timeline if e.kind == "history"]
    assert [(e.at, e.title, e.who) for e in entries] == [
        (
            r.history_date,
            r.history_change_reason or "Changed",
            r.history_user.username if r.history_user else "System",
        )
        for r in records
    ]
    assert any(e.items for e in entries)


def test_the_refund_history_is_read_without_the_columns_no_entry_shows(people):
    # given: a refund proposed on authorization, held, released and approved
    case = open_case(people["agent"], quantity=1, price="89.00", trigger="on_authorization")
    refund = refund_of(case)
    refund_holds_apply(case_id=case.pk, reason="A fraud review is open on the case")
    refund_hold_release(refund_id=refund.pk, actor=people["approver"])
    refund_approve(refund_id=refund.pk, actor=people["approver"], note="Checked the photos")
    case = return_case_get(pk=case.pk)

    # when its timeline is built
    with CaptureQueriesContext(connection) as queries:
        timeline = return_case_timeline(case=case, exceptions=[])

    # then the refund history is one query of the columns an entry shows (none loaded later)
    (history,) = [q["sql"] for q in queries if "finance_historicalrefund" in q["sql"]]
    selected = set(re.findall(r'"finance_historicalrefund"\."(\w+)"', history.split(" FROM ")[0]))
    assert selected == {"history_id", "history_user_id", *REFUND_TIMELINE_FIELDS}
    # and the steps still say what happened, for how much and by whom, as the full records do
    steps = [(e.title, e.who, e.body, e.items) for e in timeline if e.kind == "refund"]
    amount = f"Refund #{refund.pk} {refund.amount} {refund.currency}"
    assert steps[0][0] in (f"{amount} proposed", f"{amount} awaiting approval")
    assert steps[0][3] == (RefundMethod(refund.method).label,)
    assert (f"{amount} held", "System", "A fraud review is open on the case", ()) in steps
    assert steps[-1][:2] == (f"{amount} approved", people["approver"].username)
    assert steps[-1][2] == "Checked the photos"
