"""Approving refunds: limits per role and user, the controller, segregation of duties, bulk
approval checked item by item, rejection — and every denial changes nothing."""

from decimal import Decimal

import pytest
from django.contrib.auth import load_backend
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django_fsm import TransitionNotAllowed

from erp.models import OutboxMessage
from erp.roles import Role
from finance.models import ApprovalLimit, Refund, RefundCap, RefundState
from finance.services import (
    REFUND_TOPIC,
    refund_approve,
    refund_reject,
    refunds_bulk_approve,
)
from tests.finance.refund_cases import inspect_all, open_case, receive, refund_of, ship

pytestmark = pytest.mark.django_db

BACKEND = "erp.auth_backends.PermissionsPreloadingBackend"


def pending(agent, *, quantity=2, price="30.00") -> Refund:
    """A refund waiting for approval (over the automatic-approval threshold)."""
    refund = refund_of(open_case(agent, quantity=quantity, price=price, trigger="on_authorization"))
    assert refund.state == RefundState.PENDING_APPROVAL
    return refund


def snapshot(refund: Refund) -> tuple:
    """What a refused approval must leave as it was."""
    refund.refresh_from_db()
    return (
        refund.state,
        refund.approved_by_id,
        refund.approved_at,
        refund.execution_round,
        refund.history.count(),
        OutboxMessage.objects.filter(topic=REFUND_TOPIC, payload__refund_id=refund.pk).count(),
    )


@pytest.fixture
def controller(make_user):
    user = make_user(Role.FINANCE, username="controller")
    user.user_permissions.add(Permission.objects.get(codename="approve_refund_unlimited"))
    return user


def test_a_clerk_approves_within_the_limit_and_execution_is_queued(cs_user, finance_user):
    # given a refund of 60.00 waiting for approval
    refund = pending(cs_user)

    # when a finance clerk (limit 500) approves it
    refund_approve(refund_id=refund.pk, actor=finance_user, note="Evidence checked")

    # then it is approved by them, with their note in the history, and its execution queued
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    assert refund.approved_by == finance_user
    assert not refund.auto_approved
    last = refund.history.first()
    assert (last.history_user, last.history_change_reason) == (finance_user, "Evidence checked")
    message = OutboxMessage.objects.get(topic=REFUND_TOPIC)
    assert message.payload == {"refund_id": refund.pk, "round": 1}


def test_over_the_clerk_limit_is_refused_and_a_controller_approves_it(
    cs_user, finance_user, controller
):
    # given a refund of 3 x 200.00 = 600.00, over the clerks' 500
    refund = pending(cs_user, quantity=3, price="200.00")
    before = snapshot(refund)

    # when a clerk approves it
    with pytest.raises(PermissionDenied, match=r"over your approval limit of 500\.00 USD"):
        refund_approve(refund_id=refund.pk, actor=finance_user)

    # then nothing changed
    assert snapshot(refund) == before

    # when the controller approves it
    refund_approve(refund_id=refund.pk, actor=controller)
    refund.refresh_from_db()
    assert (refund.state, refund.approved_by) == (RefundState.APPROVED, controller)


def test_a_users_own_limit_replaces_the_groups(cs_user, finance_user):
    # given a clerk whose own USD limit is 50
    ApprovalLimit.objects.create(user=finance_user, currency="USD", max_amount=Decimal("50"))
    refund = pending(cs_user)
    before = snapshot(refund)

    # then a 60.00 refund is over it, though the group allows 500
    with pytest.raises(PermissionDenied, match=r"limit of 50\.00 USD"):
        refund_approve(refund_id=refund.pk, actor=finance_user)
    assert snapshot(refund) == before


def test_roles_without_the_permission_cannot_approve(cs_user, warehouse_user, operations_user):
    refund = pending(cs_user)
    before = snapshot(refund)
    for actor in (cs_user, warehouse_user, operations_user):
        with pytest.raises(PermissionDenied, match="may not approve"):
            refund_approve(refund_id=refund.pk, actor=actor)
    assert snapshot(refund) == before


def test_the_requester_may_not_approve_their_own_refund(make_user, controller):
    # given a refund requested by someone who is also in finance (and a controller)
    both = make_user(Role.CUSTOMER_SERVICE, Role.FINANCE, username="both")
    both.user_permissions.add(Permission.objects.get(codename="approve_refund_unlimited"))
    refund = pending(both)
    assert refund.requested_by == both
    before = snapshot(refund)

    # then they may not approve it; nothing changes
    with pytest.raises(PermissionDenied, match="You requested this refund"):
        refund_approve(refund_id=refund.pk, actor=both)
    assert snapshot(refund) == before


def test_whoever_received_the_units_may_not_approve(
    cs_user, make_user, warehouse_user, finance_user
):
    # given a warehouse lead who is also in finance and received the returned units, which a
    # colleague inspected
    lead = make_user(Role.WAREHOUSE, Role.FINANCE, username="lead")
    case = ship(open_case(cs_user, quantity=2, price="30.00"), cs_user)
    receive(case, lead)
    inspect_all(case, warehouse_user, grades=("A",))
    refund = refund_of(case)
    assert refund.state == RefundState.PENDING_APPROVAL
    assert refund.requested_by == warehouse_user
    before = snapshot(refund)

    # then they may not approve it, and someone else may
    with pytest.raises(PermissionDenied, match="You received or inspected these units"):
        refund_approve(refund_id=refund.pk, actor=lead)
    assert snapshot(refund) == before
    refund_approve(refund_id=refund.pk, actor=finance_user)
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED


def test_an_approved_refund_is_not_approved_again(cs_user, finance_user, controller):
    refund = pending(cs_user)
    refund_approve(refund_id=refund.pk, actor=finance_user)
    before = snapshot(refund)
    with pytest.raises(TransitionNotAllowed, match="is approved: it cannot be approved"):
        refund_approve(refund_id=refund.pk, actor=controller)
    assert snapshot(refund) == before


def test_bulk_approve_checks_every_item_and_reports_each(cs_user, make_user, finance_user):
    # given three refunds: one fine, one over the clerk's limit, one requested by the clerk
    fine = pending(cs_user)
    too_big = pending(cs_user, quantity=3, price="200.00")
    clerk_and_agent = make_user(Role.CUSTOMER_SERVICE, Role.FINANCE, username="clerk_agent")
    own = pending(clerk_and_agent)
    before = {"too_big": snapshot(too_big), "own": snapshot(own)}

    # when the clerk approves all three at once (and one id that does not exist)
    outcomes = refunds_bulk_approve(
        refund_ids=[fine.pk, too_big.pk, own.pk, 999999], actor=clerk_and_agent
    )

    # then each is reported; only the fine one is approved and the others are untouched
    assert [(o.refund_id, o.approved) for o in outcomes] == [
        (fine.pk, True),
        (too_big.pk, False),
        (own.pk, False),
        (999999, False),
    ]
    assert "over your approval limit" in outcomes[1].reason
    assert "You requested this refund" in outcomes[2].reason
    assert outcomes[3].reason == "No such refund."
    fine.refresh_from_db()
    assert fine.state == RefundState.APPROVED
    assert snapshot(too_big) == before["too_big"]
    own.refresh_from_db()
    assert own.state == RefundState.PENDING_APPROVAL
    assert finance_user  # the fixture's clerk is not involved


def test_rejecting_needs_a_reason_and_gives_the_amount_back_to_the_cap(cs_user, finance_user):
    # given a refund waiting for approval, holding 60.00 of its line's cap
    refund = pending(cs_user)
    cap = RefundCap.objects.get(return_line=refund.lines.get().return_line)
    assert cap.committed_amount == Decimal("60.00")

    # when it is rejected without a reason, nothing changes
    before = snapshot(refund)
    with pytest.raises(ValidationError):
        refund_reject(refund_id=refund.pk, actor=finance_user, reason=" ")
    assert snapshot(refund) == before

    # when it is rejected with one
    refund_reject(refund_id=refund.pk, actor=finance_user, reason="Item never arrived")

    # then it is rejected, who and why recorded, and the line's cap is free again
    refund.refresh_from_db()
    assert refund.state == RefundState.REJECTED
    assert refund.rejection_reason == "Item never arrived"
    assert refund.history.first().history_user == finance_user
    cap.refresh_from_db()
    assert cap.committed_amount == Decimal("0.00")


def test_rejecting_needs_the_permission(cs_user, warehouse_user):
    refund = pending(cs_user)
    before = snapshot(refund)
    with pytest.raises(PermissionDenied):
        refund_reject(refund_id=refund.pk, actor=warehouse_user, reason="No")
    assert snapshot(refund) == before


def test_approving_is_four_statements_and_writes_the_same_history_row(
    cs_user, finance_user, django_assert_num_queries
):
    # given a refund waiting for approval and the approver as a request loads them
    refund = pending(cs_user)
    actor = load_backend(BACKEND).get_user(finance_user.pk)

    # when they approve it: lock (the refund alone, not its case), their limits, the
    # execution's outbox message, and the refund with its history row in one statement
    # (the test's savepoint pair around the service's transaction makes six)
    with django_assert_num_queries(6) as statements:
        refund_approve(refund_id=refund.pk, actor=actor, note="Checked")

    # then the lock reads no case and the history row is what a save would have written
    lock = statements.captured_queries[1]["sql"]
    assert "FOR UPDATE" in lock
    assert "returns_returncase" not in lock
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    assert (refund.approved_by_id, refund.execution_round) == (finance_user.pk, 1)
    last = refund.history.first()
    assert (last.history_type, last.history_user_id, last.history_change_reason) == (
        "~",
        finance_user.pk,
        "Checked",
    )
    assert (last.state, last.approved_by_id, last.approved_at) == (
        RefundState.APPROVED,
        finance_user.pk,
        refund.approved_at,
    )
