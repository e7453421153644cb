"""The exception queue and an exception's page: filters, actions through plain POST forms,
refusals that write nothing, and query counts that do not grow with the rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from erp import services
from erp.models import ExceptionCase, ExceptionNote
from erp.models.exceptions import ExceptionKind, ExceptionState, SubjectType
from erp.roles import Role
from tests.factories import ExceptionCaseFactory, ExceptionNoteFactory, ProductFactory

State = ExceptionState


@pytest.fixture
def manager(make_user):
    return make_user(Role.OPERATIONS_MANAGER, username="olivia")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def listed(response) -> list[str]:
    return [exception.subject_id for exception in response.context["object_list"]]


def state_of(exception: ExceptionCase) -> tuple:
    row = ExceptionCase.objects.get(pk=exception.pk)
    return (row.state, row.assignee_id, row.resolution_reason, row.history.count())


# ---- The queue -----------------------------------------------------------------------------


@pytest.fixture
def queue(manager, make_user):
    """Six exceptions, one per thing a filter tells apart; subject ids name them."""
    now = timezone.now()
    ExceptionCaseFactory(subject_id="due-soon", sla_due_at=now + timedelta(hours=1))
    ExceptionCaseFactory(
        subject_id="overdue",
        opened_at=now - timedelta(days=3),
        sla_due_at=now - timedelta(hours=2),
    )
    ExceptionCaseFactory(
        subject_id="mine",
        state=State.ASSIGNED,
        assignee=manager,
        sla_due_at=now + timedelta(hours=5),
    )
    ExceptionCaseFactory(
        subject_id="refund",
        kind=ExceptionKind.REFUND_FAILURE,
        subject_type=SubjectType.REFUND,
        opened_at=now - timedelta(days=1),
        sla_due_at=now + timedelta(hours=3),
    )
    ExceptionCaseFactory(
        subject_id="escalated",
        state=State.ESCALATED,
        assignee=make_user(Role.WAREHOUSE),
        sla_due_at=now - timedelta(hours=1),
    )
    ExceptionCaseFactory(
        subject_id="resolved",
        state=State.RESOLVED,
        resolution_reason="Fixed",
        sla_due_at=now - timedelta(hours=9),
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, ["overdue", "escalated", "due-soon", "refund", "mine"], id="active"),
        pytest.param({"kind": "refund_failure"}, ["refund"], id="kind"),
        pytest.param({"state": "resolved"}, ["resolved"], id="state"),
        pytest.param(
            {"state": "all"},
            ["resolved", "overdue", "escalated", "due-soon", "refund", "mine"],
            id="all states",
        ),
        pytest.param({"owner_role": "finance"}, ["refund"], id="owner role"),
        pytest.param({"assignee": "mine"}, ["mine"], id="mine"),
        pytest.param(
            {"assignee": "unassigned"}, ["overdue", "due-soon", "refund"], id="unassigned"
        ),
        pytest.param({"overdue": "on"}, ["overdue", "escalated"], id="overdue"),
        pytest.param(
            {"sort": "age"}, ["overdue", "refund", "due-soon", "mine", "escalated"], id="by age"
        ),
        pytest.param(
            {"kind": "no-such-kind"},
            ["overdue", "escalated", "due-soon", "refund", "mine"],
            id="bad value ignored",
        ),
    ],
)
def test_queue_filters(manager_client, queue, params, expected):
    response = manager_client.get(reverse("exception_list"), params)

    assert response.status_code == 200
    assert listed(response) == expected


def test_queue_shows_overdue_badges_and_counts(manager_client, queue):
    response = manager_client.get(reverse("exception_list"))

    html = response.content.decode()
    assert html.count('class="row-overdue"') == 2
    assert html.count('badge badge-danger">Overdue') == 2
    assert response.context["counts"] == {"active": 5, "overdue": 2, "unassigned": 3, "mine": 1}


def test_queue_for_htmx_is_the_table_alone(manager_client, queue):
    response = manager_client.get(
        reverse("exception_list"), {"assignee": "mine"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "<table" in html
    assert listed(response) == ["mine"]
    assert "HX-Request" in response["Vary"]


def test_queue_says_when_nothing_matches(manager_client, queue):
    response = manager_client.get(reverse("exception_list"), {"kind": "channel_dispute"})

    assert "No exception matches these filters." in response.content.decode()


# ---- An exception's page -------------------------------------------------------------------


def test_a_manager_sees_every_action_the_state_allows(manager_client):
    exception = ExceptionCaseFactory()

    response = manager_client.get(reverse("exception_detail", args=[exception.pk]))

    assert response.context["actions"] == {"assign", "escalate", "resolve", "dismiss"}
    html = response.content.decode()
    for label in ("Assign", "Escalate", "Resolve", "Dismiss", "Add note"):
        assert f">{label}</button>" in html
    assert "Me (olivia)" in html


def test_others_see_no_action_but_may_add_a_note(client, cs_user):
    exception = ExceptionCaseFactory()
    client.force_login(cs_user)

    response = client.get(reverse("exception_detail", args=[exception.pk]))

    assert response.context["actions"] == set()
    html = response.content.decode()
    assert ">Assign</button>" not in html
    assert ">Add note</button>" in html


def test_a_closed_exception_offers_no_action(manager_client):
    exception = ExceptionCaseFactory(state=State.DISMISSED, resolution_reason="Duplicate")

    response = manager_client.get(reverse("exception_detail", args=[exception.pk]))

    assert response.context["actions"] == set()
    assert "Duplicate" in response.content.decode()


def test_detail_marks_the_exceptions_section(manager_client):
    exception = ExceptionCaseFactory()

    html = manager_client.get(reverse("exception_detail", args=[exception.pk])).content.decode()

    assert 'href="/exceptions/" data-section="exceptions" aria-current="true"' in html


def test_the_timeline_shows_notes_and_changes_with_their_reasons(manager_client, manager):
    exception = services.exception_open(
        kind=ExceptionKind.SKU_MISMATCH,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=7,
        summary="Wrong SKU",
        evidence={"scanned_sku": "TEE-NAVY-L"},
    )
    services.exception_assign(exception_id=exception.pk, actor=manager, assignee=manager)
    services.exception_add_note(exception_id=exception.pk, actor=manager, body="Called the DC")
    services.exception_resolve(exception_id=exception.pk, actor=manager, reason="Re-labelled")

    response = manager_client.get(reverse("exception_detail", args=[exception.pk]))

    timeline = response.context["timeline"]
    assert [(entry.title, entry.who) for entry in timeline] == [
        ("Opened: Wrong SKU", "System"),
        ("Assigned to olivia", "olivia"),
        ("Note", "olivia"),
        ("Re-labelled", "olivia"),
    ]
    assert timeline[1].changes == (("State", "Open", "Assigned"), ("Assignee", "nobody", "olivia"))
    assert timeline[3].changes == (("State", "Assigned", "Resolved"),)


def test_a_missing_exception_is_404(manager_client):
    assert manager_client.get(reverse("exception_detail", args=[999999])).status_code == 404
    response = manager_client.post(reverse("exception_resolve", args=[999999]), {"reason": "x"})
    assert response.status_code == 404


# ---- Actions through the forms -------------------------------------------------------------


def test_a_manager_assigns_to_self_then_resolves_with_a_reason(manager_client, manager):
    exception = ExceptionCaseFactory()
    page = reverse("exception_detail", args=[exception.pk])

    assigned = manager_client.post(
        reverse("exception_assign", args=[exception.pk]), {"assignee": manager.pk}
    )
    resolved = manager_client.post(
        reverse("exception_resolve", args=[exception.pk]), {"reason": "Re-labelled and shelved"}
    )

    assert (assigned.status_code, assigned["Location"]) == (302, page)
    assert (resolved.status_code, resolved["Location"]) == (302, page)
    exception.refresh_from_db()
    assert (exception.state, exception.assignee, exception.resolution_reason) == (
        State.RESOLVED,
        manager,
        "Re-labelled and shelved",
    )
    followed = manager_client.get(page)
    assert "Resolved." in followed.content.decode()


def test_dismiss_is_the_second_button_of_the_reason_form(manager_client):
    exception = ExceptionCaseFactory()

    response = manager_client.post(
        reverse("exception_dismiss", args=[exception.pk]), {"reason": "Scanner glitch"}
    )

    assert response.status_code == 302
    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == (State.DISMISSED, "Scanner glitch")


def test_escalate_and_add_a_note_through_the_forms(manager_client, manager):
    exception = ExceptionCaseFactory()

    manager_client.post(reverse("exception_escalate", args=[exception.pk]), {"note": "VIP"})
    manager_client.post(reverse("exception_note", args=[exception.pk]), {"body": "Photos in"})

    exception.refresh_from_db()
    assert exception.state == State.ESCALATED
    assert exception.history.latest().history_change_reason == "VIP"
    assert list(exception.notes.values_list("body", "author")) == [("Photos in", manager.pk)]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_resolving_without_a_reason_shows_the_error_and_writes_nothing(manager_client, htmx):
    exception = ExceptionCaseFactory()
    before = state_of(exception)
    headers = {"HX-Request": "true", "HX-Boosted": "true"} if htmx else {}

    response = manager_client.post(
        reverse("exception_resolve", args=[exception.pk]), {"reason": "  "}, headers=headers
    )

    assert response.status_code == 422
    assert response.context["reason_form"].errors == {"reason": ["This field is required."]}
    assert 'role="alert"' in response.content.decode()
    assert state_of(exception) == before


def test_assigning_to_someone_outside_the_owner_role_is_a_form_error(manager_client, finance_user):
    exception = ExceptionCaseFactory()
    before = state_of(exception)

    response = manager_client.post(
        reverse("exception_assign", args=[exception.pk]), {"assignee": finance_user.pk}
    )

    assert response.status_code == 422
    assert "assignee" in response.context["assign_form"].errors
    assert state_of(exception) == before


def test_acting_on_a_closed_exception_says_why_and_writes_nothing(manager_client):
    exception = ExceptionCaseFactory(state=State.RESOLVED, resolution_reason="Done")
    before = state_of(exception)

    response = manager_client.post(
        reverse("exception_dismiss", args=[exception.pk]), {"reason": "Again"}, follow=True
    )

    assert "A resolved exception cannot be dismissed." in response.content.decode()
    assert state_of(exception) == before


DENIED_POSTS = [
    ("exception_assign", lambda user: {"assignee": user.pk}),
    ("exception_escalate", lambda user: {"note": "x"}),
    ("exception_resolve", lambda user: {"reason": "x"}),
    ("exception_dismiss", lambda user: {"reason": "x"}),
]


@pytest.mark.parametrize(("url_name", "data"), DENIED_POSTS, ids=[d[0] for d in DENIED_POSTS])
@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE])
def test_posting_an_action_without_manage_exceptions_is_403_and_writes_nothing(
    client, make_user, role, url_name, data
):
    user = make_user(role)
    client.force_login(user)
    exception = ExceptionCaseFactory(owner_role=role)
    before = state_of(exception)

    response = client.post(reverse(url_name, args=[exception.pk]), data(user))

    assert response.status_code == 403
    assert state_of(exception) == before


def test_anonymous_and_role_less_posts_write_nothing(client, make_user):
    exception = ExceptionCaseFactory()
    before = state_of(exception)
    note = reverse("exception_note", args=[exception.pk])

    anonymous = client.post(note, {"body": "hello"})
    client.force_login(make_user())
    role_less = client.post(note, {"body": "hello"})

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert role_less.status_code == 403
    assert state_of(exception) == before
    assert ExceptionNote.objects.count() == 0


# ---- Query counts ---------------------------------------------------------------------------


def queries_for(client, url: str, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured)


def make_exceptions(count: int, assignee) -> None:
    for n in range(count):
        ExceptionCaseFactory(
            assignee=assignee if n % 2 else None,
            state=State.ASSIGNED if n % 2 else State.OPEN,
            product=ProductFactory() if n % 3 == 0 else None,
        )


@pytest.mark.parametrize("params", [{}, {"assignee": "mine"}, {"state": "all", "sort": "age"}])
def test_queue_query_count_does_not_grow_with_rows(manager_client, manager, params):
    url = reverse("exception_list")

    make_exceptions(5, manager)
    with_5 = queries_for(manager_client, url, **params)
    make_exceptions(25, manager)
    with_30 = queries_for(manager_client, url, **params)

    assert with_30 == with_5


def test_detail_query_count_does_not_grow_with_notes_and_changes(manager_client, manager):
    exception = ExceptionCaseFactory(product=ProductFactory())
    url = reverse("exception_detail", args=[exception.pk])

    def add_story(count: int) -> None:
        for n in range(count):
            ExceptionNoteFactory(exception=exception, author=manager if n % 2 else None)
            services.exception_assign(exception_id=exception.pk, actor=manager, assignee=manager)

    add_story(5)
    with_5 = queries_for(manager_client, url)
    add_story(25)
    with_30 = queries_for(manager_client, url)

    assert with_30 == with_5
    assert len(manager_client.get(url).context["timeline"]) == 1 + 30 + 30


# ---- Admin ------------------------------------------------------------------------------------


def test_the_admin_searches_filters_and_shows_history_read_only(client, administrator_user):
    exception = ExceptionCaseFactory(subject_label="RMA-31337")
    ExceptionCaseFactory(subject_label="RMA-00001")
    client.force_login(administrator_user)

    found = client.get(reverse("admin:erp_exceptioncase_changelist"), {"q": "31337"})
    filtered = client.get(reverse("admin:erp_exceptioncase_changelist"), {"state": "resolved"})
    change = client.get(reverse("admin:erp_exceptioncase_change", args=[exception.pk]))
    history = client.get(reverse("admin:erp_exceptioncase_history", args=[exception.pk]))

    assert [e.pk for e in found.context["cl"].result_list] == [exception.pk]
    assert list(filtered.context["cl"].result_list) == []
    # Changes go through the services, so the admin shows, never edits.
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert history.status_code == 200
