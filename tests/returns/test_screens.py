"""The CS screens: search by every key, opening a return through the form, the case page
(timeline, next step, actions) and constant query counts."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.models import Customer, ExceptionCase
from erp.services import exception_resolve
from returns import services
from returns.models import ReturnCase
from tests.factories import ShippedItemFactory
from tests.returns.conftest import ask, counts, delivered_order, open_case
from tests.warehouse.test_inspection import PNG


@pytest.fixture
def cs_client(client, cs_user):
    client.force_login(cs_user)
    return client


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("key", ["rma", "order", "email", "tracking", "serial"])
def test_search_finds_a_return_by_every_key(cs_client, cs_user, key):
    # given a shipped return among others
    order = delivered_order()
    ShippedItemFactory(line=order.lines.get(), serial_number="SN-FIND-ME")
    case = open_case(order, cs_user)
    services.return_case_ship(
        case_id=case.pk, actor=cs_user, carrier="UPS", tracking_number="1ZTRACK"
    )
    open_case(delivered_order(), cs_user)
    query = {
        "rma": case.rma_number.lower(),
        "order": f"#{order.number}",
        "email": order.customer.email.upper(),
        "tracking": "1ZTRACK",
        "serial": "SN-FIND-ME",
    }[key]
    # when
    response = cs_client.get(reverse("return_search"), {"q": query})
    # then exactly that case is listed
    assert [c.pk for c in response.context["cases"]] == [case.pk]
    assert case.rma_number in response.content.decode()


def test_search_lists_orders_to_start_a_return_from(cs_client):
    order = delivered_order()
    response = cs_client.get(reverse("return_search"), {"q": order.number})
    assert [o.pk for o in response.context["orders"]] == [order.pk]
    assert reverse("return_create", args=[order.pk]) in response.content.decode()


def _cases(n: int, actor) -> Customer:
    customer = delivered_order().customer
    for _ in range(n):
        order = delivered_order(customer=customer, lines=((1, "30.00"), (1, "20.00")))
        first, second = order.lines.all()
        open_case(order, actor, ask(first), ask(second))
    return customer


def test_search_and_queue_keep_a_constant_query_count(cs_client, cs_user):
    few = _cases(5, cs_user)
    many = _cases(30, cs_user)
    search = reverse("return_search")
    assert queries(cs_client, f"{search}?q={few.email}") == queries(
        cs_client, f"{search}?q={many.email}"
    )
    small_queue = queries(cs_client, reverse("return_queue"))
    for case in ReturnCase.objects.filter(state="authorized")[:5]:
        ReturnCase.objects.filter(pk=case.pk).update(state="pending_review")
    assert queries(cs_client, reverse("return_queue")) == small_queue
    assert queries(cs_client, reverse("cs_home")) < 20


def test_the_case_page_keeps_a_constant_query_count(cs_client, cs_user):
    # given a one-line case with little history, and a three-line one that went further
    small = open_case(delivered_order(), cs_user)
    order = delivered_order(lines=((1, "10.00"), (1, "10.00"), (2, "10.00")))
    big = open_case(order, cs_user, *(ask(line) for line in order.lines.all()))
    services.return_case_ship(case_id=big.pk, actor=cs_user, carrier="UPS", tracking_number="1Z")
    services.return_case_mark_delivered(case_id=big.pk, actor=cs_user)
    # then both pages cost the same
    assert queries(cs_client, reverse("return_detail", args=[small.pk])) == queries(
        cs_client, reverse("return_detail", args=[big.pk])
    )


def test_the_form_checks_the_policy_then_opens_the_return(cs_client):
    order = delivered_order()
    line = order.lines.get()
    form = {
        f"qty_{line.pk}": "1",
        f"reason_{line.pk}": "SIZE_TOO_SMALL",
        f"condition_{line.pk}": "opened_unused",
        "resolution": "refund",
        "check": "",
    }
    url = reverse("return_create", args=[order.pk])
    # when the agent checks the policy, the decision shows and nothing is saved
    checked = cs_client.post(url, form)
    assert checked.status_code == 200
    html = checked.content.decode()
    assert "Decision: Authorized automatically" in html
    assert "Standard: 30 days, authorized automatically" in html
    assert ReturnCase.objects.count() == 0
    # when they open it, they land on the case
    form.pop("check")
    opened = cs_client.post(url, {**form, "open": ""})
    case = ReturnCase.objects.get()
    assert opened.status_code == 302
    assert opened["Location"] == reverse("return_detail", args=[case.pk])
    assert case.state == "authorized"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"qty": "5", "reason": "SIZE_TOO_SMALL"}, "only 2 of 2 can still be returned"),
        ({"qty": "1", "reason": ""}, "Say why this line comes back."),
        ({"qty": "0", "reason": ""}, "Enter a quantity for at least one line."),
    ],
)
def test_the_form_shows_errors_and_writes_nothing(cs_client, fields, error):
    order = delivered_order()
    line = order.lines.get()
    before = counts()
    response = cs_client.post(
        reverse("return_create", args=[order.pk]),
        {
            f"qty_{line.pk}": fields["qty"],
            f"reason_{line.pk}": fields["reason"],
            f"condition_{line.pk}": "opened_unused",
            "resolution": "refund",
            "open": "",
        },
    )
    assert response.status_code == 422
    assert error in response.content.decode()
    assert counts() == before


def test_an_ineligible_request_shows_the_reason_and_no_open_button(cs_client):
    order = delivered_order(days_ago=40)
    line = order.lines.get()
    response = cs_client.post(
        reverse("return_create", args=[order.pk]),
        {
            f"qty_{line.pk}": "1",
            f"reason_{line.pk}": "CHANGED_MIND",
            "resolution": "refund",
            "check": "",
        },
    )
    html = response.content.decode()
    assert "Outside the 30-day return window: delivered 40 days ago." in html
    assert 'name="open"' not in html


def test_the_case_page_tells_the_whole_story(cs_client, cs_user, operations_user):
    # given a high-risk case held for review, authorized by resolving the review (cleared)
    order = delivered_order(days_ago=0, segment=Customer.Segment.WATCHLIST, lines=((1, "600.00"),))
    case = open_case(order, cs_user)
    exception = ExceptionCase.objects.get(subject_id=str(case.pk))
    exception_resolve(exception_id=exception.pk, actor=operations_user, reason="Verified by phone")
    # when the agent opens it
    response = cs_client.get(reverse("return_detail", args=[case.pk]))
    html = response.content.decode()
    kinds = [entry.kind for entry in response.context["timeline"]]
    # then the timeline has the history, the policy decision, the risk, the exception, messages
    assert {"history", "policy", "risk", "exception", "message"} <= set(kinds)
    for text in (
        "Requested via customer service",
        "Policy v1:",
        "Risk screening: high (55)",
        "+30 The customer is on the watchlist.",
        "Exception fraud review",
        "Customer message queued: Return under review",
        "Customer message queued: Return authorized, with instructions",
        "Authorized after fraud review: Verified by phone",
        "Pending review → Authorized",
    ):
        assert text in html, text
    # and a plain answer to "what happens next / where is my refund"
    assert "The customer ships the parcel (return shipping is on us)" in html
    assert "Not yet due: the refund is released once the warehouse has inspected the items." in html
    # and the buttons are the transitions the agent may take
    assert [name for name, *_ in response.context["actions"]] == ["ship", "cancel"]


def test_an_action_button_runs_the_service(cs_client, cs_user):
    case = open_case(delivered_order(lines=((1, "1200.00"),)), cs_user)
    response = cs_client.post(
        reverse("return_action", args=[case.pk, "reject"]), {"reason": "Engraved item"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.outcome_reason) == ("rejected", "Engraved item")


def test_a_refused_action_is_a_message_and_changes_nothing(cs_client, cs_user):
    case = open_case(delivered_order(lines=((1, "1200.00"),)), cs_user)
    before = counts()
    response = cs_client.post(
        reverse("return_action", args=[case.pk, "reject"]), {"reason": ""}, follow=True
    )
    assert "Say why; the customer is told." in response.content.decode()
    case.refresh_from_db()
    assert case.state == "pending_review"
    assert counts() == before


def test_an_action_the_role_may_not_take_is_forbidden_and_changes_nothing(
    client, warehouse_user, cs_user
):
    case = open_case(delivered_order(lines=((1, "1200.00"),)), cs_user)
    client.force_login(warehouse_user)
    before = counts()
    assert client.post(reverse("return_action", args=[case.pk, "authorize"])).status_code == 403
    case.refresh_from_db()
    assert case.state == "pending_review"
    assert counts() == before


def test_photos_are_kept_as_evidence_and_shown_to_whoever_reads_the_case(
    cs_client, client, warehouse_user
):
    order = delivered_order()
    line = order.lines.get()
    photo = SimpleUploadedFile("front.png", PNG, content_type="image/png")
    cs_client.post(
        reverse("return_create", args=[order.pk]),
        {
            f"qty_{line.pk}": "1",
            f"reason_{line.pk}": "DEFECTIVE_OR_DAMAGED",
            f"condition_{line.pk}": "damaged",
            "resolution": "refund",
            "open": "",
            "photos": [photo],
        },
    )
    case = ReturnCase.objects.get()
    (stored,) = case.photos.all()
    assert (stored.content_type, stored.size) == ("image/png", len(PNG))
    page = cs_client.get(reverse("return_detail", args=[case.pk])).content.decode()
    assert reverse("return_photo", args=[stored.pk]) in page
    client.force_login(warehouse_user)
    response = client.get(reverse("return_photo", args=[stored.pk]))
    assert b"".join(response.streaming_content) == PNG


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_written(cs_client):
    order = delivered_order()
    line = order.lines.get()
    before = counts()
    response = cs_client.post(
        reverse("return_create", args=[order.pk]),
        {
            f"qty_{line.pk}": "1",
            f"reason_{line.pk}": "SIZE_TOO_SMALL",
            "resolution": "refund",
            "open": "",
            "photos": [SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")],
        },
    )
    assert response.status_code == 422
    assert "notes.txt is not an image." in response.content.decode()
    assert counts() == before
