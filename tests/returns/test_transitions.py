"""Every transition of a return case, its guards, and who may take it: a refusal changes
nothing (state, history, outbox)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open, exception_resolve
from returns import services, tasks
from returns.models import ReturnCase
from returns.selectors import returnable_lines
from tests.returns.conftest import counts, delivered_order, open_case

State = ReturnCase.State

# The path from authorized onwards, each step with the service that takes it.
FORWARD = [
    (
        State.IN_TRANSIT,
        lambda pk, u: services.return_case_ship(
            case_id=pk, actor=u, carrier="UPS", tracking_number="1Z999"
        ),
    ),
    (State.DELIVERED, lambda pk, u: services.return_case_mark_delivered(case_id=pk, actor=u)),
    (State.RECEIVED, lambda pk, u: services.return_case_receive(case_id=pk, actor=u)),
    (State.INSPECTED, lambda pk, u: services.return_case_inspect(case_id=pk, actor=u)),
    (State.CLOSED, lambda pk, u: services.return_case_close(case_id=pk, actor=u)),
]


def case_in(state: str, actor) -> ReturnCase:
    """A case brought to `state` by `actor` (an operations manager may take every step)."""
    if state == State.PENDING_REVIEW:
        return open_case(delivered_order(lines=((1, "1200.00"),)), actor)
    case = open_case(delivered_order(), actor)
    for _target, step in FORWARD:
        if case.state == state:
            break
        case = step(case.pk, actor)
    assert case.state == state
    return case


def test_the_whole_life_of_a_return(cs_user, warehouse_user, operations_user):
    case = open_case(delivered_order(), cs_user)
    case = services.return_case_ship(
        case_id=case.pk, actor=cs_user, carrier="UPS", tracking_number="1Z999"
    )
    assert (case.state, case.carrier, case.tracking_number) == (State.IN_TRANSIT, "UPS", "1Z999")
    case = services.return_case_mark_delivered(case_id=case.pk, actor=cs_user)
    case = services.return_case_receive(case_id=case.pk, actor=warehouse_user)
    case = services.return_case_inspect(case_id=case.pk, actor=warehouse_user, note="Grade A")
    case = services.return_case_close(case_id=case.pk, actor=operations_user)
    case.refresh_from_db()
    assert case.state == State.CLOSED
    for stamp in (
        "authorized_at",
        "shipped_at",
        "delivered_at",
        "received_at",
        "inspected_at",
        "closed_at",
    ):
        assert getattr(case, stamp) is not None, stamp
    assert [h.history_change_reason for h in case.history.order_by("history_date")][2:] == [
        "Shipped with UPS",
        "Delivered by carrier",
        "Received",
        "Grade A",
        "Closed",
    ]
    assert list(case.messages.values_list("template", flat=True)) == [
        "return_authorized",
        "return_received",
    ]


def test_a_held_case_is_authorized_by_an_agent_with_a_note(cs_user):
    case = case_in(State.PENDING_REVIEW, cs_user)
    case = services.return_case_authorize(case_id=case.pk, actor=cs_user, note="Photos checked")
    assert case.state == State.AUTHORIZED
    assert case.ship_by >= timezone.now() + timedelta(days=services.MIN_DAYS_TO_SHIP - 1)
    assert case.history.latest().history_change_reason == "Photos checked"
    assert list(case.messages.values_list("template", flat=True)) == [
        "return_under_review",
        "return_authorized",
    ]


def test_a_rejection_states_its_reason_to_the_customer(cs_user):
    case = case_in(State.PENDING_REVIEW, cs_user)
    with pytest.raises(ValidationError):
        services.return_case_reject(case_id=case.pk, actor=cs_user, reason="  ")
    case = services.return_case_reject(case_id=case.pk, actor=cs_user, reason="Item was engraved")
    assert (case.state, case.outcome_reason) == (State.REJECTED, "Item was engraved")
    assert case.messages.last().template == "return_rejected"
    # and its units can be claimed again
    assert [line.returnable for line in returnable_lines(order=case.order)] == [1]


def test_a_long_reason_is_kept_whole_on_the_case_and_clipped_in_its_history(cs_user):
    # Given a reason longer than the history's 100-character column
    case = case_in(State.PENDING_REVIEW, cs_user)
    reason = "The serial on the unit does not match the one we shipped; " * 4

    # When the case is rejected with it
    case = services.return_case_reject(case_id=case.pk, actor=cs_user, reason=reason)

    # Then the customer is told all of it, and the history says who and why, clipped
    assert case.outcome_reason == reason.strip()
    entry = case.history.latest()
    assert entry.history_user == cs_user
    assert len(entry.history_change_reason) == 100
    assert entry.history_change_reason.startswith("Rejected: The serial on the unit")
    assert entry.history_change_reason.endswith("…")


def test_cancel_from_every_open_state_and_not_after_shipping(cs_user, operations_user):
    for state in (State.PENDING_REVIEW, State.AUTHORIZED):
        case = case_in(state, operations_user)
        case = services.return_case_cancel(
            case_id=case.pk, actor=cs_user, reason="Customer kept it"
        )
        assert case.state == State.CANCELLED
    shipped = case_in(State.IN_TRANSIT, operations_user)
    with pytest.raises(
        TransitionNotAllowed, match="This return is in transit: it cannot be cancelled"
    ):
        services.return_case_cancel(case_id=shipped.pk, actor=cs_user, reason="Too late")
    shipped.refresh_from_db()
    assert shipped.state == State.IN_TRANSIT


def test_ship_needs_carrier_and_tracking(cs_user):
    case = case_in(State.AUTHORIZED, cs_user)
    with pytest.raises(ValidationError) as refused:
        services.return_case_ship(case_id=case.pk, actor=cs_user, carrier="UPS", tracking_number="")
    assert "tracking_number" in refused.value.message_dict
    case.refresh_from_db()
    assert case.state == State.AUTHORIZED


@pytest.mark.parametrize(
    ("state", "step"),
    [
        (
            State.PENDING_REVIEW,
            lambda pk, u: services.return_case_ship(
                case_id=pk, actor=u, carrier="UPS", tracking_number="1"
            ),
        ),
        (State.AUTHORIZED, lambda pk, u: services.return_case_authorize(case_id=pk, actor=u)),
        (State.AUTHORIZED, lambda pk, u: services.return_case_receive(case_id=pk, actor=u)),
        (State.IN_TRANSIT, lambda pk, u: services.return_case_inspect(case_id=pk, actor=u)),
        (State.RECEIVED, lambda pk, u: services.return_case_close(case_id=pk, actor=u)),
        (
            State.INSPECTED,
            lambda pk, u: services.return_case_reject(case_id=pk, actor=u, reason="x"),
        ),
    ],
)
def test_a_step_out_of_order_is_refused_and_changes_nothing(operations_user, state, step):
    case = case_in(state, operations_user)
    before = counts()
    with pytest.raises(TransitionNotAllowed):
        step(case.pk, operations_user)
    case.refresh_from_db()
    assert case.state == state
    assert counts() == before


# (service, the state it starts from, roles refused, roles allowed)
PERMISSIONS = [
    (
        "authorize",
        State.PENDING_REVIEW,
        ["warehouse_user", "finance_user"],
        ["cs_user", "operations_user", "administrator_user"],
    ),
    (
        "reject",
        State.PENDING_REVIEW,
        ["warehouse_user", "finance_user"],
        ["cs_user", "operations_user"],
    ),
    (
        "cancel",
        State.AUTHORIZED,
        ["warehouse_user", "finance_user"],
        ["cs_user", "operations_user"],
    ),
    ("ship", State.AUTHORIZED, ["warehouse_user", "finance_user"], ["cs_user", "operations_user"]),
    (
        "mark_delivered",
        State.IN_TRANSIT,
        ["warehouse_user", "finance_user"],
        ["cs_user", "operations_user"],
    ),
    (
        "receive",
        State.DELIVERED,
        ["cs_user", "finance_user"],
        ["warehouse_user", "operations_user"],
    ),
    ("inspect", State.RECEIVED, ["cs_user", "finance_user"], ["warehouse_user", "operations_user"]),
    (
        "close",
        State.INSPECTED,
        ["cs_user", "warehouse_user", "finance_user"],
        ["operations_user", "administrator_user"],
    ),
]
ARGS = {
    "reject": {"reason": "No"},
    "cancel": {"reason": "No"},
    "ship": {"carrier": "UPS", "tracking_number": "1Z1"},
}


def _take(name, case, actor):
    return getattr(services, f"return_case_{name}")(
        case_id=case.pk, actor=actor, **ARGS.get(name, {})
    )


@pytest.mark.parametrize(
    ("name", "state", "refused", "allowed"), PERMISSIONS, ids=[p[0] for p in PERMISSIONS]
)
def test_who_may_take_each_step(request, operations_user, name, state, refused, allowed):
    for role in refused:
        case = case_in(state, operations_user)
        before = counts()
        with pytest.raises(PermissionDenied):
            _take(name, case, request.getfixturevalue(role))
        case.refresh_from_db()
        assert case.state == state, role
        assert counts() == before, role
    for role in allowed:
        case = case_in(state, operations_user)
        assert _take(name, case, request.getfixturevalue(role)).state != state, role


def test_a_case_with_an_open_exception_cannot_close(operations_user):
    case = case_in(State.INSPECTED, operations_user)
    exception = exception_open(
        kind=ExceptionKind.SERIAL_MISMATCH,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=case.pk,
        summary="Wrong serial",
    )
    before = counts()
    with pytest.raises(ValidationError, match="open exceptions"):
        services.return_case_close(case_id=case.pk, actor=operations_user)
    case.refresh_from_db()
    assert case.state == State.INSPECTED
    assert counts() == before
    exception_resolve(
        exception_id=exception.pk, actor=operations_user, reason="Serial re-read: matches"
    )
    assert services.return_case_close(case_id=case.pk, actor=operations_user).state == State.CLOSED


def test_authorized_but_not_shipped_in_time_expires(cs_user):
    # given one case past its ship-by date and one still within it
    late = case_in(State.AUTHORIZED, cs_user)
    on_time = case_in(State.AUTHORIZED, cs_user)
    ReturnCase.objects.filter(pk=late.pk).update(ship_by=timezone.now() - timedelta(minutes=1))
    # when the beat task runs (twice: it is idempotent)
    assert tasks.return_cases_expire_overdue() == 1
    assert tasks.return_cases_expire_overdue() == 0
    # then only the late one expired, with its message, and its units are free again
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.state, on_time.state) == (State.EXPIRED, State.AUTHORIZED)
    assert late.expired_at is not None
    assert late.history.latest().history_change_reason == "Expired: not shipped in time"
    assert late.messages.last().template == "return_expired"
    assert [line.returnable for line in returnable_lines(order=late.order)] == [2]


def test_a_case_within_its_ship_by_date_cannot_expire(cs_user):
    case = case_in(State.AUTHORIZED, cs_user)
    with pytest.raises(TransitionNotAllowed):
        services.return_case_expire(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == State.AUTHORIZED


def test_the_expiry_task_is_scheduled():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["return-cases-expire-overdue"]
    assert entry["task"] == tasks.return_cases_expire_overdue.name


def test_the_status_field_cannot_be_written_directly(cs_user):
    case = case_in(State.AUTHORIZED, cs_user)
    with pytest.raises(AttributeError):
        case.state = State.CLOSED
