"""The writes that chain two writes in one statement (PostgreSQL): a new record with its
history row (`erp.history.create_with_history`), a changed record with its history row
(`erp.history.update_with_history`), and an outbox message with the row that notes it
(`erp.services.outbox_enqueue_noted`). Each must leave exactly what the two-statement way
leaves."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_fsm import ConcurrentTransition

from erp.history import (
    create_with_history,
    field_values,
    fields_changed,
    save_with_history,
    update_with_history,
)
from erp.models import OutboxMessage, Warehouse
from erp.services import outbox_dispatch, outbox_enqueue, outbox_enqueue_noted
from returns.models import ReturnCase, ReturnCaseMessage
from tests.factories.returns import ReturnCaseFactory

pytestmark = pytest.mark.django_db

TRACKED = ["code", "name", "operator", "provider", "country", "is_active"]


def test_a_record_and_its_history_row_are_one_statement_and_the_same_as_two(
    warehouse_user, django_assert_num_queries
):
    # Given the same warehouse saved the two-statement way
    saved = Warehouse(code="two", name="North", operator="own", country="US")
    save_with_history(saved, actor=warehouse_user, why="Opened")

    # When one is created with its history row in one statement
    created = Warehouse(code="one", name="North", operator="own", country="US")
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        create_with_history(created, actor=warehouse_user, why="Opened")

    # Then the row is there, the instance knows its key and its auto_now stamps
    row = Warehouse.objects.get(pk=created.pk)
    assert not created._state.adding
    assert (row.code, row.name, row.created_at) == ("one", "North", created.created_at)
    # And its one history row says what the two-statement way says, field for field
    (history,) = created.history.all()
    (reference,) = saved.history.all()
    for name in ["history_type", "history_user_id", "history_change_reason", *TRACKED]:
        expected = getattr(reference, name) if name != "code" else "one"
        assert getattr(history, name) == expected, name
    assert (history.id, history.created_at) == (created.pk, row.created_at)


def test_a_long_reason_is_clipped_in_the_history_row_as_save_with_history_clips_it(
    warehouse_user,
):
    created = Warehouse(code="why", name="South", operator="own", country="US")
    create_with_history(created, actor=warehouse_user, why="x" * 150)
    reason = created.history.get().history_change_reason
    assert len(reason) == 100
    assert reason.endswith("…")


def test_a_record_whose_unique_value_is_taken_is_not_inserted_and_says_so(
    warehouse_user, django_assert_num_queries
):
    # Given a warehouse holding the code
    create_with_history(
        Warehouse(code="taken", name="North", operator="own", country="US"),
        actor=warehouse_user,
        why="Opened",
    )

    # When another is created with the same code, unless it is taken
    other = Warehouse(code="taken", name="South", operator="own", country="US")
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
        inserted = create_with_history(
            other, actor=warehouse_user, why="Opened", unless_taken=("code",)
        )

    # Then nothing was written, no error was raised, and the caller is told
    assert inserted is False
    assert list(Warehouse.objects.values_list("name", flat=True)) == ["North"]
    assert Warehouse.history.count() == 1


HISTORY_FIELDS = ["history_type", "history_user_id", "history_change_reason", "state"]


def test_a_change_and_its_history_row_are_one_statement_and_the_same_as_two(
    warehouse_user, django_assert_num_queries
):
    # Given two cases under review, one rejected the two-statement way
    saved, changed = ReturnCaseFactory(), ReturnCaseFactory()
    saved.reject(reason="Fraud confirmed")
    save_with_history(saved, actor=warehouse_user, why="Rejected: Fraud confirmed")

    # When the other is rejected with its history row in one statement
    changed.reject(reason="Fraud confirmed")
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        update_with_history(changed, actor=warehouse_user, why="Rejected: Fraud confirmed")

    # Then the row changed, and its new history row says what the two-statement way says
    row = ReturnCase.objects.get(pk=changed.pk)
    assert (row.state, row.outcome_reason, row.rejected_at) == (
        ReturnCase.State.REJECTED,
        "Fraud confirmed",
        changed.rejected_at,
    )
    history = changed.history.order_by("history_id").last()
    reference = saved.history.order_by("history_id").last()
    for name in [*HISTORY_FIELDS, "outcome_reason", "resolution", "refund_trigger"]:
        assert getattr(history, name) == getattr(reference, name), name
    assert (history.id, history.rejected_at) == (changed.pk, row.rejected_at)
    assert changed.history.count() == 2


def test_a_change_naming_its_fields_sets_only_those_and_its_history_row_copies_the_whole_row(
    warehouse_user, django_assert_num_queries
):
    # Given two cases under review; another transaction changed one's agent note since it
    # was read, and the other is rejected the two-statement way
    saved, changed = ReturnCaseFactory(), ReturnCaseFactory(agent_note="read")
    saved.reject(reason="Fraud confirmed")
    save_with_history(saved, actor=warehouse_user, why="Rejected: Fraud confirmed")
    ReturnCase.objects.filter(pk=changed.pk).update(agent_note="meanwhile")

    # When the stale copy is rejected, saving the fields the transition changed
    before = field_values(changed)
    changed.reject(reason="Fraud confirmed")
    fields = fields_changed(changed, before)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        update_with_history(
            changed, actor=warehouse_user, why="Rejected: Fraud confirmed", fields=fields
        )

    # Then only those were set: the transition's fields changed, the note kept its new value
    assert sorted(fields) == ["outcome_reason", "rejected_at", "state"]
    row = ReturnCase.objects.get(pk=changed.pk)
    assert (row.state, row.outcome_reason, row.rejected_at, row.agent_note) == (
        ReturnCase.State.REJECTED,
        "Fraud confirmed",
        changed.rejected_at,
        "meanwhile",
    )
    # And the history row is the whole row as it now is, as the two-statement way writes it
    history = changed.history.order_by("history_id").last()
    reference = saved.history.order_by("history_id").last()
    for name in [*HISTORY_FIELDS, "outcome_reason", "resolution", "refund_trigger"]:
        assert getattr(history, name) == getattr(reference, name), name
    assert (history.id, history.rejected_at, history.agent_note) == (
        changed.pk,
        row.rejected_at,
        "meanwhile",
    )


def test_a_change_to_a_case_moved_on_meanwhile_is_refused_and_writes_nothing(warehouse_user):
    # Given a case under review that another transaction cancelled since it was read
    case = ReturnCaseFactory()
    ReturnCase.objects.filter(pk=case.pk).update(state=ReturnCase.State.CANCELLED)

    # When this copy is rejected and saved
    case.reject(reason="Too late")
    with pytest.raises(ConcurrentTransition):
        update_with_history(case, actor=warehouse_user, why="Rejected: Too late")
    # Nor when it names the fields it changed
    with pytest.raises(ConcurrentTransition):
        update_with_history(
            case, actor=warehouse_user, why="Rejected: Too late", fields=["state", "outcome_reason"]
        )

    # Then the row and its history are as the other transaction left them
    row = ReturnCase.objects.get(pk=case.pk)
    assert (row.state, row.outcome_reason) == (ReturnCase.State.CANCELLED, "")
    assert case.history.count() == 1


@pytest.fixture
def dispatches(monkeypatch):
    sent = []
    monkeypatch.setattr(outbox_dispatch, "_send_dispatch", lambda: sent.append(1))
    return sent


def test_a_message_and_its_note_are_one_statement(
    django_assert_num_queries, django_capture_on_commit_callbacks, dispatches
):
    # Given a case
    case = ReturnCaseFactory()
    note = ReturnCaseMessage(case=case, template=ReturnCaseMessage.Template.RECEIVED)

    # When a message is queued with the case's note of it
    statements = 1 if connection.vendor == "postgresql" else 2
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_num_queries(statements),
    ):
        message = outbox_enqueue_noted(
            topic="customer.message",
            payload={"case_id": case.pk},
            dedupe_key=f"case:{case.pk}:received",
            ordering_key=f"case:{case.pk}",
            note=note,
            message_id_field="outbox_message_id",
        )

    # Then both rows exist, point at each other, and one dispatch was asked for after commit
    stored = OutboxMessage.objects.get()
    assert (message.pk, stored.topic, stored.payload) == (
        stored.pk,
        "customer.message",
        {"case_id": case.pk},
    )
    assert stored.ordering_key == f"case:{case.pk}"
    row = ReturnCaseMessage.objects.get()
    assert (row.pk, row.case_id, row.outbox_message_id) == (note.pk, case.pk, stored.pk)
    assert note.outbox_message_id == stored.pk
    assert dispatches == [1]


def test_a_key_queued_before_is_noted_against_the_first_message_and_not_queued_again(
    django_capture_on_commit_callbacks, dispatches
):
    # Given a message queued under a key
    case = ReturnCaseFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = outbox_enqueue(topic="customer.message", payload={"n": 1}, dedupe_key="k")
    assert dispatches == [1]

    # When the same key is queued again with a note
    with django_capture_on_commit_callbacks(execute=True):
        again = outbox_enqueue_noted(
            topic="customer.message",
            payload={"n": 2},
            dedupe_key="k",
            note=ReturnCaseMessage(case=case, template=ReturnCaseMessage.Template.RECEIVED),
            message_id_field="outbox_message_id",
        )

    # Then the first message stands unchanged, the note points at it, nothing more to send
    assert again.pk == first.pk
    assert again.payload == {"n": 1}
    assert list(OutboxMessage.objects.values_list("payload", flat=True)) == [{"n": 1}]
    assert ReturnCaseMessage.objects.get().outbox_message_id == first.pk
    assert dispatches == [1]


def test_a_change_finds_its_row_by_primary_key_when_statistics_say_its_state_is_rare(
    warehouse_user,
):
    # Given a case under review among 3,000 authorized ones, statistics gathered on those
    # (a drain then moves thousands of cases through a state the last ANALYZE found rare)
    case = ReturnCaseFactory()
    table = ReturnCase._meta.db_table
    columns = [
        f.column for f in ReturnCase._meta.concrete_fields if f.name not in ("id", "rma_number")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (rma_number, {', '.join(columns)}) "
            f"SELECT rma_number || '-' || n, {', '.join(columns)} "
            f"FROM {table}, generate_series(1, 3000) n WHERE id = %s",
            [case.pk],
        )
        cursor.execute(f"UPDATE {table} SET state = 'authorized' WHERE id <> %s", [case.pk])
        cursor.execute(f"ANALYZE {table}")

    # When it is rejected in one statement
    case.reject(reason="Fraud confirmed")
    with CaptureQueriesContext(connection) as captured:
        update_with_history(case, actor=warehouse_user, why="Rejected: Fraud confirmed")

    # Then that statement reads the case by its primary key, not by an index on its state
    (statement,) = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}")
        plan = json.dumps(cursor.fetchone()[0])
    scans = re.findall(r'"Index Name": "([^"]+)"', plan)
    assert scans == ["returns_returncase_pkey"], scans
    assert ReturnCase.objects.get(pk=case.pk).state == ReturnCase.State.REJECTED
