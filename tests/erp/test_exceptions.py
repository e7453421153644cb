"""The exception queue's services: opening (idempotent), every transition and its guards,
SLA defaults and overdue escalation, the resolution-handler registry."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from erp import services
from erp.celery import app
from erp.models import ExceptionCase, ExceptionNote
from erp.models.exceptions import KIND_DEFAULTS, ExceptionKind, ExceptionState, SubjectType
from erp.roles import Role
from erp.selectors import open_exceptions_exist
from tests.factories import ExceptionCaseFactory, ProductFactory, SalesOrderFactory

State = ExceptionState


def open_sku_mismatch(**overrides) -> ExceptionCase:
    arguments = {
        "kind": ExceptionKind.SKU_MISMATCH,
        "subject_type": SubjectType.RETURN_CASE,
        "subject_id": 41,
        "subject_label": "RMA-000041",
        "summary": "Scanned SKU differs from the RMA line",
        "evidence": {"expected_sku": "TEE-NAVY-M", "scanned_sku": "TEE-NAVY-L"},
    }
    return services.exception_open(**{**arguments, **overrides})


def snapshot(exception: ExceptionCase) -> tuple:
    """Everything an action could change, to prove a refused one changed nothing."""
    row = ExceptionCase.objects.get(pk=exception.pk)
    return (
        row.state,
        row.assignee_id,
        row.resolution_reason,
        row.resolved_by_id,
        row.resolved_at,
        row.escalated_at,
        row.history.count(),
        row.notes.count(),
    )


@pytest.fixture
def manager(make_user):
    return make_user(Role.OPERATIONS_MANAGER, username="olivia")


@pytest.fixture
def handlers():
    """Register resolution handlers for one test only."""
    registered = []

    def register(**kwargs):
        services.exception_resolution_handler_register(**kwargs)
        registered.append(kwargs)

    yield register
    for kwargs in registered:
        services.exception_resolution_handler_unregister(**kwargs)


# ---- Opening ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_open_creates_an_exception_with_the_kinds_owner_and_sla():
    # Given a product and an order the problem is about
    product, order = ProductFactory(), SalesOrderFactory()
    before = timezone.now()

    # When a sku_mismatch is reported on a return case
    exception = open_sku_mismatch(product=product, sales_order=order, details="Bin R-12")

    # Then it is open, owned by the warehouse, due in the kind's SLA, with one history row
    exception.refresh_from_db()
    assert exception.state == State.OPEN
    assert exception.owner_role == Role.WAREHOUSE
    assert (exception.subject_type, exception.subject_id) == ("return_case", "41")
    assert (exception.product, exception.sales_order) == (product, order)
    assert exception.evidence == {"expected_sku": "TEE-NAVY-M", "scanned_sku": "TEE-NAVY-L"}
    assert exception.sla_due_at == exception.opened_at + timedelta(hours=24)
    assert exception.opened_at >= before
    assert exception.assignee is None
    assert exception.opened_by is None
    assert [h.history_change_reason for h in exception.history.all()] == ["Opened"]
    assert exception.notes.count() == 0


@pytest.mark.django_db
def test_opening_the_same_problem_twice_adds_a_note_to_the_open_one():
    # Given an open sku_mismatch on RMA 41
    first = open_sku_mismatch()

    # When the same problem is reported again, with new evidence
    second = open_sku_mismatch(
        summary="Second scan, same mismatch", evidence={"photo": "dock-2.jpg"}
    )

    # Then there is still one exception, and the report is a note carrying the evidence
    assert second.pk == first.pk
    assert ExceptionCase.objects.count() == 1
    note = ExceptionNote.objects.get()
    assert note.exception_id == first.pk
    assert note.body == "Reported again: Second scan, same mismatch"
    assert note.evidence == {"photo": "dock-2.jpg"}
    assert note.author is None
    # And the exception itself did not change
    second.refresh_from_db()
    assert second.summary == "Scanned SKU differs from the RMA line"
    assert second.history.count() == 1


@pytest.mark.django_db
def test_another_kind_or_subject_opens_its_own_exception():
    first = open_sku_mismatch()
    other_kind = open_sku_mismatch(kind=ExceptionKind.SERIAL_MISMATCH)
    other_subject = open_sku_mismatch(subject_id=42)

    assert len({first.pk, other_kind.pk, other_subject.pk}) == 3
    assert ExceptionNote.objects.count() == 0


@pytest.mark.django_db
def test_after_resolution_the_same_problem_opens_a_new_exception(manager):
    first = open_sku_mismatch()
    services.exception_resolve(exception_id=first.pk, actor=manager, reason="Re-labelled")

    again = open_sku_mismatch()

    assert again.pk != first.pk
    assert again.state == State.OPEN
    assert ExceptionNote.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reports_racing_still_open_one_exception():
    # Given one report has opened the exception but not committed yet
    opened, release, results = threading.Event(), threading.Event(), {}

    def first_report():
        try:
            with transaction.atomic():
                results["first"] = open_sku_mismatch().pk
                opened.set()
                release.wait(10)
        finally:
            connection.close()

    def second_report():
        try:
            results["second"] = open_sku_mismatch(summary="Same, from the dock").pk
        finally:
            connection.close()

    first = threading.Thread(target=first_report)
    first.start()
    assert opened.wait(10)

    # When a second report of the same problem arrives (it finds no committed row, so it
    # inserts, and waits on the unique index) and then the first commits
    second = threading.Thread(target=second_report)
    second.start()
    deadline = time.monotonic() + 10
    while not waiting_on_a_lock():
        assert time.monotonic() < deadline, "the second report never reached the index"
        time.sleep(0.05)
    release.set()
    first.join(10)
    second.join(10)

    # Then both got the same exception, and the second report is a note on it
    assert results["first"] == results["second"]
    assert ExceptionCase.objects.count() == 1
    assert ExceptionNote.objects.get().body == "Reported again: Same, from the dock"


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db
def test_the_database_refuses_a_second_active_exception_on_a_subject():
    # The partial unique index is the guard when two reports race past the look-up.
    first = ExceptionCaseFactory(subject_id="7")

    with pytest.raises(IntegrityError), transaction.atomic():
        ExceptionCaseFactory(subject_id="7", kind=first.kind)


@pytest.mark.django_db
def test_a_closed_exception_without_reason_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        ExceptionCaseFactory(state=State.RESOLVED, resolution_reason="")


@pytest.mark.parametrize("kind", list(ExceptionKind), ids=str)
@pytest.mark.django_db
def test_each_kind_gets_its_default_owner_and_sla(kind):
    exception = services.exception_open(
        kind=kind, subject_type=SubjectType.PRODUCT, subject_id="SKU-1", summary="Check"
    )

    defaults = KIND_DEFAULTS[kind]
    assert exception.owner_role == defaults.owner_role
    assert exception.sla_due_at - exception.opened_at == timedelta(hours=defaults.sla_hours)


def test_every_kind_has_a_default_and_the_table_states_them():
    assert set(KIND_DEFAULTS) == set(ExceptionKind)
    hours = {kind.value: d.sla_hours for kind, d in KIND_DEFAULTS.items()}
    assert hours == {
        "sku_mismatch": 24,
        "missing_components": 24,
        "packaging_missing": 48,
        "serial_mismatch": 24,
        "fraud_review": 12,
        "damaged_in_transit": 48,
        "channel_dispute": 24,
        "late_3pl_disposition": 72,
        "reconciliation_variance": 48,
        "refund_failure": 8,
        "investigate_sku": 72,
    }


@pytest.mark.django_db
def test_owner_and_sla_may_be_given_instead_of_the_defaults():
    due = timezone.now() + timedelta(hours=2)

    exception = open_sku_mismatch(owner_role=Role.OPERATIONS_MANAGER, sla_due_at=due)

    assert (exception.owner_role, exception.sla_due_at) == (Role.OPERATIONS_MANAGER, due)


# ---- Assigning ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_manager_assigns_an_open_exception_to_themself(manager):
    exception = open_sku_mismatch()

    services.exception_assign(exception_id=exception.pk, actor=manager, assignee=manager)

    exception.refresh_from_db()
    assert (exception.state, exception.assignee) == (State.ASSIGNED, manager)
    latest = exception.history.latest()
    assert latest.history_change_reason == "Assigned to olivia"
    assert latest.history_user == manager


@pytest.mark.django_db
def test_a_manager_assigns_to_someone_in_the_owner_role_and_may_reassign(manager, make_user):
    first, second = make_user(Role.WAREHOUSE, username="wes"), make_user(Role.WAREHOUSE)
    exception = open_sku_mismatch()

    services.exception_assign(exception_id=exception.pk, actor=manager, assignee=first)
    services.exception_assign(exception_id=exception.pk, actor=manager, assignee=second)

    exception.refresh_from_db()
    assert (exception.state, exception.assignee) == (State.ASSIGNED, second)


@pytest.mark.django_db
def test_assigning_outside_the_owner_role_is_refused_and_changes_nothing(manager, finance_user):
    exception = open_sku_mismatch()
    before = snapshot(exception)

    with pytest.raises(ValidationError) as error:
        services.exception_assign(exception_id=exception.pk, actor=manager, assignee=finance_user)

    assert error.value.message_dict == {
        "assignee": ["Assign it to yourself or to someone in warehouse."]
    }
    assert snapshot(exception) == before


@pytest.mark.django_db
def test_assigning_an_escalated_exception_keeps_it_escalated(manager):
    exception = ExceptionCaseFactory(state=State.ESCALATED, escalated_at=timezone.now())

    services.exception_assign(exception_id=exception.pk, actor=manager, assignee=manager)

    exception.refresh_from_db()
    assert (exception.state, exception.assignee) == (State.ESCALATED, manager)


# ---- Escalating, resolving, dismissing --------------------------------------------------


@pytest.mark.parametrize("start", [State.OPEN, State.ASSIGNED])
@pytest.mark.django_db
def test_a_manager_escalates_with_a_reason_in_the_history(manager, start):
    exception = ExceptionCaseFactory(state=start)

    services.exception_escalate(exception_id=exception.pk, actor=manager, note="Customer waiting")

    exception.refresh_from_db()
    assert exception.state == State.ESCALATED
    assert exception.escalated_at is not None
    assert exception.history.latest().history_change_reason == "Customer waiting"


@pytest.mark.django_db
def test_an_escalated_exception_cannot_escalate_again(manager):
    exception = ExceptionCaseFactory(state=State.ESCALATED)
    before = snapshot(exception)

    with pytest.raises(TransitionNotAllowed):
        services.exception_escalate(exception_id=exception.pk, actor=manager)

    assert snapshot(exception) == before


@pytest.mark.parametrize("start", [State.OPEN, State.ASSIGNED, State.ESCALATED])
@pytest.mark.django_db
def test_a_manager_resolves_from_every_active_state(manager, start):
    exception = ExceptionCaseFactory(state=start)

    services.exception_resolve(exception_id=exception.pk, actor=manager, reason="  Re-labelled ")

    exception.refresh_from_db()
    assert exception.state == State.RESOLVED
    assert exception.resolution_reason == "Re-labelled"
    assert exception.resolved_by == manager
    assert exception.resolved_at is not None
    assert exception.history.latest().history_change_reason == "Re-labelled"


@pytest.mark.django_db
def test_a_manager_dismisses_with_a_reason(manager):
    exception = ExceptionCaseFactory()

    services.exception_dismiss(exception_id=exception.pk, actor=manager, reason="Duplicate scan")

    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == (State.DISMISSED, "Duplicate scan")
    assert exception.resolved_by == manager


@pytest.mark.parametrize("close", [services.exception_resolve, services.exception_dismiss])
@pytest.mark.parametrize("reason", ["", "   "])
@pytest.mark.django_db
def test_closing_without_a_reason_is_refused_and_changes_nothing(manager, close, reason):
    exception = ExceptionCaseFactory(state=State.ASSIGNED, assignee=manager)
    before = snapshot(exception)

    with pytest.raises(ValidationError) as error:
        close(exception_id=exception.pk, actor=manager, reason=reason)

    assert list(error.value.message_dict) == ["reason"]
    assert snapshot(exception) == before


ACTIONS = {
    "assign": lambda e, actor: services.exception_assign(
        exception_id=e.pk, actor=actor, assignee=actor
    ),
    "escalate": lambda e, actor: services.exception_escalate(exception_id=e.pk, actor=actor),
    "resolve": lambda e, actor: services.exception_resolve(
        exception_id=e.pk, actor=actor, reason="Fixed"
    ),
    "dismiss": lambda e, actor: services.exception_dismiss(
        exception_id=e.pk, actor=actor, reason="Noise"
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE])
@pytest.mark.django_db
def test_acting_without_manage_exceptions_is_denied_and_changes_nothing(make_user, action, role):
    # Given someone who may see the queue but not manage it
    person = make_user(role)
    exception = ExceptionCaseFactory(owner_role=role)
    before = snapshot(exception)

    # When they try the action, Then it is refused and nothing changed
    with pytest.raises(PermissionDenied):
        ACTIONS[action](exception, person)
    assert snapshot(exception) == before


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("closed", [State.RESOLVED, State.DISMISSED])
@pytest.mark.django_db
def test_resolved_and_dismissed_are_terminal(manager, action, closed):
    exception = ExceptionCaseFactory(state=closed, resolution_reason="Done")
    before = snapshot(exception)

    with pytest.raises(TransitionNotAllowed):
        ACTIONS[action](exception, manager)

    assert snapshot(exception) == before


@pytest.mark.django_db
def test_the_state_field_cannot_be_written_directly():
    exception = ExceptionCaseFactory()

    with pytest.raises(AttributeError):
        exception.state = State.RESOLVED


# ---- Notes ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anyone_working_the_queue_adds_a_note(cs_user):
    exception = ExceptionCaseFactory()

    note = services.exception_add_note(
        exception_id=exception.pk, actor=cs_user, body=" Customer sent photos ", evidence={"n": 3}
    )

    assert (note.exception, note.author, note.body, note.evidence) == (
        exception,
        cs_user,
        "Customer sent photos",
        {"n": 3},
    )


@pytest.mark.django_db
def test_a_note_needs_a_body_and_the_permission(cs_user, make_user):
    exception = ExceptionCaseFactory()

    with pytest.raises(ValidationError):
        services.exception_add_note(exception_id=exception.pk, actor=cs_user, body="  ")
    with pytest.raises(PermissionDenied):
        services.exception_add_note(exception_id=exception.pk, actor=make_user(), body="Hi")

    assert ExceptionNote.objects.count() == 0


# ---- Overdue escalation ----------------------------------------------------------------


@pytest.mark.django_db
def test_overdue_open_and_assigned_exceptions_escalate(manager):
    now = timezone.now()
    past = now - timedelta(minutes=1)
    overdue_open = ExceptionCaseFactory(sla_due_at=past)
    overdue_assigned = ExceptionCaseFactory(state=State.ASSIGNED, assignee=manager, sla_due_at=past)
    not_due = ExceptionCaseFactory(sla_due_at=now + timedelta(hours=1))
    already = ExceptionCaseFactory(state=State.ESCALATED, sla_due_at=past)
    resolved = ExceptionCaseFactory(state=State.RESOLVED, resolution_reason="ok", sla_due_at=past)

    escalated = services.exceptions_escalate_overdue(now=now)

    assert escalated == 2
    states = {
        e.pk: e.state
        for e in ExceptionCase.objects.filter(
            pk__in=[overdue_open.pk, overdue_assigned.pk, not_due.pk, already.pk, resolved.pk]
        )
    }
    assert states == {
        overdue_open.pk: State.ESCALATED,
        overdue_assigned.pk: State.ESCALATED,
        not_due.pk: State.OPEN,
        already.pk: State.ESCALATED,
        resolved.pk: State.RESOLVED,
    }
    overdue_open.refresh_from_db()
    assert overdue_open.escalated_at == now
    latest = overdue_open.history.latest()
    assert latest.history_user is None
    assert latest.history_change_reason.endswith("passed: escalated automatically")
    # The assignee keeps it; escalation raises its priority, it does not take it away.
    overdue_assigned.refresh_from_db()
    assert overdue_assigned.assignee == manager
    # And a second run finds nothing left to do
    assert services.exceptions_escalate_overdue(now=now) == 0


def test_beat_escalates_overdue_exceptions_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["exceptions-escalate-overdue"]
    assert entry == {"task": "erp.tasks.exceptions_escalate_overdue", "schedule": 300.0}
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


# ---- Resolution handlers -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_registered_handler_runs_when_its_kind_on_its_subject_is_resolved(manager, handlers):
    # Given a higher app listening for fraud reviews on return cases
    calls = []

    def release_case(*, exception, actor):
        calls.append((exception.pk, exception.state, actor))

    handlers(
        kind=ExceptionKind.FRAUD_REVIEW, subject_type=SubjectType.RETURN_CASE, handler=release_case
    )
    review = ExceptionCaseFactory(kind=ExceptionKind.FRAUD_REVIEW)
    other_kind = ExceptionCaseFactory(kind=ExceptionKind.SKU_MISMATCH)
    other_subject = ExceptionCaseFactory(
        kind=ExceptionKind.FRAUD_REVIEW, subject_type=SubjectType.ORDER
    )
    dismissed = ExceptionCaseFactory(kind=ExceptionKind.FRAUD_REVIEW)

    # When each is closed
    services.exception_resolve(exception_id=review.pk, actor=manager, reason="Customer verified")
    services.exception_resolve(exception_id=other_kind.pk, actor=manager, reason="x")
    services.exception_resolve(exception_id=other_subject.pk, actor=manager, reason="x")
    services.exception_dismiss(exception_id=dismissed.pk, actor=manager, reason="x")

    # Then the handler ran once, for the resolved fraud review of a return case
    assert calls == [(review.pk, State.RESOLVED, manager)]


@pytest.mark.django_db
def test_the_system_resolves_a_problem_that_went_away_and_the_handlers_still_run(handlers):
    # Given a variance exception a higher app listens for
    calls = []

    def on_resolved(*, exception, actor):
        calls.append((exception.pk, actor))

    handlers(
        kind=ExceptionKind.RECONCILIATION_VARIANCE,
        subject_type=SubjectType.VARIANCE,
        handler=on_resolved,
    )
    exception = ExceptionCaseFactory(
        kind=ExceptionKind.RECONCILIATION_VARIANCE, subject_type=SubjectType.VARIANCE
    )

    # When the system resolves it, with no person behind it
    services.exception_resolve_as_system(exception_id=exception.pk, reason="The variance cleared")

    # Then it is resolved, its history names no user and says why, and the handler ran
    exception.refresh_from_db()
    assert (exception.state, exception.resolved_by) == (State.RESOLVED, None)
    entry = exception.history.latest()
    assert (entry.history_user, entry.history_change_reason) == (None, "The variance cleared")
    assert calls == [(exception.pk, None)]
    # and a closed exception cannot be resolved again
    with pytest.raises(TransitionNotAllowed):
        services.exception_resolve_as_system(exception_id=exception.pk, reason="Again")


@pytest.mark.django_db
def test_a_failing_handler_rolls_the_resolution_back(manager, handlers):
    def refuse(*, exception, actor):
        raise ValidationError("The case is locked by finance.")

    handlers(kind=ExceptionKind.SKU_MISMATCH, subject_type=SubjectType.RETURN_CASE, handler=refuse)
    exception = ExceptionCaseFactory()
    before = snapshot(exception)

    with pytest.raises(ValidationError):
        services.exception_resolve(exception_id=exception.pk, actor=manager, reason="Fixed")

    assert snapshot(exception) == before


def test_registering_a_handler_twice_keeps_one(handlers):
    def handler(*, exception, actor):
        raise AssertionError("not called here")

    key = {"kind": ExceptionKind.REFUND_FAILURE, "subject_type": SubjectType.REFUND}
    handlers(**key, handler=handler)
    handlers(**key, handler=handler)

    registered = services.exceptions._resolution_handlers[
        (ExceptionKind.REFUND_FAILURE, SubjectType.REFUND)
    ]
    assert registered.count(handler) == 1


# ---- What other apps ask -------------------------------------------------------------------


@pytest.mark.django_db
def test_open_exceptions_exist_for_a_subject_until_all_are_closed(manager):
    assert not open_exceptions_exist(subject_type=SubjectType.RETURN_CASE, subject_id=41)
    first = open_sku_mismatch()
    second = open_sku_mismatch(kind=ExceptionKind.PACKAGING_MISSING)
    ExceptionCaseFactory(subject_id="99")

    services.exception_resolve(exception_id=first.pk, actor=manager, reason="Fixed")
    assert open_exceptions_exist(subject_type=SubjectType.RETURN_CASE, subject_id=41)

    services.exception_dismiss(exception_id=second.pk, actor=manager, reason="Had a box")
    assert not open_exceptions_exist(subject_type=SubjectType.RETURN_CASE, subject_id="41")


@pytest.mark.django_db
def test_roles_hold_the_exception_permissions_the_migration_grants(make_user):
    may_manage = {role: make_user(role).has_perm("erp.manage_exceptions") for role in Role}
    may_view = {
        role: make_user(role, username=f"v-{role}").has_perm("erp.view_exceptioncase")
        for role in Role
    }

    assert may_view == dict.fromkeys(Role, True)
    assert may_manage == {
        Role.CUSTOMER_SERVICE: False,
        Role.WAREHOUSE: False,
        Role.FINANCE: False,
        Role.OPERATIONS_MANAGER: True,
        Role.ADMINISTRATOR: True,
    }
