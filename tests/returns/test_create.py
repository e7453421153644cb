"""Opening a return case: effects, the decision applied, and every bad input refused with
nothing written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from erp.models import OutboxMessage
from returns import services
from returns.models import ReturnCase, ReturnCaseMessage
from returns.selectors import returnable_lines
from tests.returns.conftest import ask, counts, delivered_order, open_case


def test_a_request_within_policy_is_authorized_with_everything_recorded(cs_user):
    # given a delivered order with a line of 2
    order = delivered_order(lines=((2, "30.00"), (1, "45.00")))
    first, second = order.lines.all()
    # when CS opens a case for one of each line
    case = open_case(order, cs_user, ask(first, 1), ask(second, 1, reason="WRONG_ITEM_SENT"))
    # then it is authorized by the policy, with the decision frozen on it
    assert case.state == ReturnCase.State.AUTHORIZED
    assert case.rma_number.startswith("RMA-")
    assert (case.channel, case.customer, case.expected_warehouse) == (
        order.channel,
        order.customer,
        order.ship_from,
    )
    assert case.rule_set.version == 1
    assert case.decision["summary"] == "Authorized automatically"
    assert [line["rule_name"] for line in case.decision["lines"]] == [
        "Standard: 30 days, authorized automatically",
        "Wrong item sent: 60 days, refund on receipt",
    ]
    # the most restrictive line decides: on_inspection is later than on_receipt
    assert case.deciding_rule.name.startswith("Standard")
    assert case.authorized_at is not None
    assert case.ship_by > order.delivered_at + timedelta(days=29)
    lines = list(case.lines.order_by("order_line__line_number"))
    assert [(line.quantity, line.unit_price, line.reason.code) for line in lines] == [
        (1, Decimal("30.00"), "SIZE_TOO_SMALL"),
        (1, Decimal("45.00"), "WRONG_ITEM_SENT"),
    ]
    assert [h.history_user for h in case.lines.model.history.filter(case=case)] == [cs_user] * 2
    # history: requested by the agent, then authorized by the system, each with its reason
    history = list(case.history.order_by("history_date"))
    assert [(h.state, h.history_change_reason, h.history_user) for h in history] == [
        ("requested", "Requested via customer service", cs_user),
        ("authorized", "Authorized by policy: Standard: 30 days, authorized automatically", None),
    ]
    # and the customer message is queued in the outbox, recorded on the case
    message = OutboxMessage.objects.get(topic="customer.message")
    assert message.payload == {
        "template": "return_authorized",
        "case_id": case.pk,
        "rma_number": case.rma_number,
        "to": order.customer.email,
    }
    assert message.dispatched_at is None
    assert list(case.messages.values_list("template", "outbox_message_id")) == [
        ("return_authorized", message.pk)
    ]


def test_a_manual_review_decision_holds_the_case_and_tells_the_customer(cs_user):
    order = delivered_order(lines=((1, "1200.00"),))
    case = open_case(order, cs_user)
    assert case.state == ReturnCase.State.PENDING_REVIEW
    assert case.review_started_at is not None
    assert case.decision["summary"] == "Held for manual review"
    assert list(case.messages.values_list("template", flat=True)) == ["return_under_review"]
    assert case.ship_by is None


def test_returnable_is_shipped_minus_claimed_and_void_cases_free_units(cs_user):
    order = delivered_order(lines=((3, "30.00"),))
    line = order.lines.get()
    case = open_case(order, cs_user, ask(line, 2))
    assert [line.returnable for line in returnable_lines(order=order)] == [1]
    services.return_case_cancel(case_id=case.pk, actor=cs_user, reason="Customer kept it")
    assert [line.returnable for line in returnable_lines(order=order)] == [3]


def test_the_outbox_row_exists_only_if_the_case_commits(cs_user):
    # given a request whose surrounding transaction then fails
    order = delivered_order()

    class Boom(Exception):
        pass

    def open_then_fail():
        with transaction.atomic():
            open_case(order, cs_user)
            assert OutboxMessage.objects.count() == 1
            raise Boom

    with pytest.raises(Boom):
        open_then_fail()
    # then neither the case nor its message survived
    assert counts() == {"cases": 0, "lines": 0, "history": 0, "outbox": 0}
    assert ReturnCaseMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (lambda o, other: [ask(o.lines.get(), 3)], "quantity", "only 2 of 2 can still be returned"),
        (lambda o, other: [ask(o.lines.get(), 0)], "quantity", "0 requested"),
        (lambda o, other: [ask(other.lines.get())], "lines", "is not on order"),
        (
            lambda o, other: [ask(o.lines.get(), reason="NOPE")],
            "reason",
            "Unknown or inactive reason code “NOPE”",
        ),
        (lambda o, other: [ask(o.lines.get()), ask(o.lines.get())], "lines", "listed twice"),
        (lambda o, other: [], "lines", "Pick at least one line"),
    ],
    ids=[
        "qty-over-returnable",
        "qty-zero",
        "line-of-another-order",
        "unknown-reason",
        "same-line-twice",
        "no-lines",
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(cs_user, build, field, message):
    order = delivered_order()
    other = delivered_order()
    before = counts()
    with pytest.raises(ValidationError) as refused:
        services.return_case_create(
            order_id=order.pk, requests=build(order, other), resolution="refund", actor=cs_user
        )
    assert message in " ".join(refused.value.message_dict[field])
    assert counts() == before


def test_outside_the_window_is_not_eligible_and_nothing_is_written(cs_user):
    order = delivered_order(days_ago=31)
    before = counts()
    with pytest.raises(ValidationError) as refused:
        open_case(order, cs_user)
    assert refused.value.message_dict["lines"] == [
        "Line 1: Outside the 30-day return window: delivered 31 days ago."
    ]
    assert counts() == before


def test_a_resolution_the_policy_does_not_offer_is_refused(cs_user):
    order = delivered_order(department="health_beauty")
    before = counts()
    with pytest.raises(ValidationError) as refused:
        open_case(order, cs_user, resolution="exchange")
    assert "does not offer" in refused.value.message_dict["resolution"][0]
    assert counts() == before


def test_an_order_not_yet_shipped_has_nothing_to_return(cs_user):
    order = delivered_order()
    type(order).objects.filter(pk=order.pk).update(shipped_at=None, delivered_at=None)
    with pytest.raises(ValidationError, match="only 0 of 2"):
        open_case(order, cs_user)


@pytest.mark.parametrize("role", ["warehouse_user", "finance_user"])
def test_only_roles_that_open_returns_may_and_a_refusal_writes_nothing(db, request, role):
    order = delivered_order()
    before = counts()
    with pytest.raises(PermissionDenied):
        open_case(order, request.getfixturevalue(role))
    assert counts() == before
