"""The approval queue and a refund's page: evidence beside each refund, a constant number of
queries, and the actions as plain POST forms (bulk approval reported per refund)."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from erp.roles import Role
from finance.models import RefundState
from returns.models import ReturnPhoto
from tests.finance.refund_cases import inspect_all, open_case, receive, refund_of, ship

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def pending(agent, **kwargs):
    refund = refund_of(open_case(agent, trigger="on_authorization", **kwargs))
    assert refund.state == RefundState.PENDING_APPROVAL
    return refund


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_queue_shows_the_evidence_beside_each_refund(
    client, cs_user, make_user, warehouse_user, finance_user
):
    # given a refund on inspection with graded units and a photo of the case
    case = ship(open_case(cs_user, quantity=2, price="30.00"), cs_user)
    ReturnPhoto.objects.create(
        case=case, image=SimpleUploadedFile("p.png", b"png"), content_type="image/png", size=3
    )
    receive(case, warehouse_user)
    inspect_all(case, warehouse_user, grades=("B",))
    refund = refund_of(case)

    # when finance opens the queue
    client.force_login(finance_user)
    response = client.get(reverse("refund_queue"))

    # then the row shows the grade, disposition, photo, policy rule, risk and history
    assert response.status_code == 200
    body = response.content.decode()
    row = body[body.index(f'id="refund-{refund.pk}"') :]
    assert "Grade B" in row
    assert reverse("return_photo", args=[case.photos.get().pk]) in row
    assert case.deciding_rule.name in row
    assert "Low risk" in row
    assert "1 return · 0 refunds paid" in row
    assert f'value="{refund.pk}"' in row  # selectable for bulk approval
    line = refund.lines.select_related("return_line__order_line__product").get()
    assert f"{line.quantity} × {line.return_line.order_line.product.sku}" in row
    assert escape(refund.customer.name) in row


def test_the_queue_costs_the_same_queries_for_1_or_6_refunds(
    client, cs_user, finance_user, django_assert_max_num_queries
):
    client.force_login(finance_user)
    pending(cs_user)
    with django_assert_max_num_queries(14) as one:
        client.get(reverse("refund_queue"))
    for _ in range(5):
        pending(cs_user)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("refund_queue"))
    assert response.content.decode().count('name="refund"') == 6


def test_the_queue_says_which_refunds_the_user_may_not_approve(client, finance_user, make_user):
    # given a refund over the clerk's limit and one the clerk requested themself
    agent = make_user(Role.CUSTOMER_SERVICE, Role.FINANCE, username="agent_clerk")
    too_big = pending(agent, quantity=3, price="200.00")
    client.force_login(agent)

    # then the queue says why, instead of offering to approve
    body = client.get(reverse("refund_queue")).content.decode()
    row = body[body.index(f'id="refund-{too_big.pk}"') :]
    assert "You requested this refund" in row
    assert "data-refused" in row
    assert finance_user


def test_bulk_approve_from_the_queue_reports_each_refund(client, cs_user, finance_user):
    # given two refunds, one over the clerk's limit
    fine = pending(cs_user)
    too_big = pending(cs_user, quantity=3, price="200.00")
    client.force_login(finance_user)

    # when the clerk ticks both and approves
    response = client.post(
        reverse("refund_bulk_approve"), {"refund": [fine.pk, too_big.pk], "note": "Batch 12"}
    )

    # then the one within the limit is approved and the other is reported with the reason
    assert response.status_code == 302
    messages = texts(response)
    assert messages[0] == f"Approved 1: #{fine.pk}."
    assert "over your approval limit" in messages[1]
    fine.refresh_from_db()
    too_big.refresh_from_db()
    assert (fine.state, fine.approved_by) == (RefundState.APPROVED, finance_user)
    assert fine.history.first().history_change_reason == "Batch 12"
    assert too_big.state == RefundState.PENDING_APPROVAL


def test_a_rows_approve_button_in_the_queue_answers_with_the_row_in_place(
    client, cs_user, finance_user
):
    # given two refunds in the queue, one over the clerk's limit
    fine = pending(cs_user)
    too_big = pending(cs_user, quantity=3, price="200.00")
    client.force_login(finance_user)
    queue = client.get(reverse("refund_queue")).content.decode()
    assert f'hx-post="{reverse("refund_action", args=[fine.pk, "approve"])}"' in queue

    # when the clerk presses the first row's Approve (htmx: the row's button posts the form)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            reverse("refund_action", args=[fine.pk, "approve"]),
            {"next": "queue", "note": ""},
            headers={"HX-Request": "true"},
        )

    # then the answer is that row, saying it is approved, and nothing else: no redirect to
    # the queue, which is neither read nor drawn again, and no message left for a later page
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="refund-{fine.pk}"')
    assert f"Refund #{fine.pk} approved" in body
    assert "alert-ok" in body
    assert texts(response) == []
    # with the tabs' counts, out of band: one waiting (the refused one), one approved
    assert '<nav class="refund-tabs" id="refund-tabs" aria-label="Refund states" hx-swap-oob' in (
        body
    )
    assert re.search(r'Pending approval <span class="badge badge-warn">1</span>', body)
    assert re.search(r'Approved <span class="badge">1</span>', body)
    # and the queue's "1 of 2 within your limit", counted as the page loaded, gives way to a
    # sentence that claims no count
    assert 'id="queue-approvable"' in queue
    assert "1 of 2 within your limit" in queue
    assert '<span class="muted" id="queue-approvable" hx-swap-oob="true">' in body
    assert " of 2 within your limit" not in body
    fine.refresh_from_db()
    assert (fine.state, fine.approved_by) == (RefundState.APPROVED, finance_user)

    # and a refused one answers with its row saying why, the refund unchanged
    response = client.post(
        reverse("refund_action", args=[too_big.pk, "approve"]),
        {"next": "queue"},
        headers={"HX-Request": "true"},
    )
    assert "over your approval limit" in response.content.decode()
    assert "alert-danger" in response.content.decode()
    too_big.refresh_from_db()
    assert too_big.state == RefundState.PENDING_APPROVAL

    # without JavaScript the same button posts the form and comes back to the queue, which
    # is read again: the statements the row's answer saves
    other = pending(cs_user)
    with CaptureQueriesContext(connection) as round_trip:
        response = client.post(
            reverse("refund_action", args=[other.pk, "approve"]), {"next": "queue"}
        )
        assert response.status_code == 302
        assert response.url == reverse("refund_queue")
        assert texts(response) == [f"Refund #{other.pk} approved; it is paid in the background."]
        client.get(response.url)
    assert len(queries) < len(round_trip) - 3


def test_reject_and_approve_from_the_refund_page(client, cs_user, finance_user):
    refund = pending(cs_user)
    client.force_login(finance_user)
    page = client.get(reverse("refund_detail", args=[refund.pk]))
    assert page.status_code == 200
    assert b"Approve" in page.content
    assert b"Reject" in page.content

    # a rejection without a reason is refused and says so
    response = client.post(reverse("refund_action", args=[refund.pk, "reject"]), {"note": ""})
    assert texts(response) == ["Say why the refund is refused."]
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL

    # an approval goes through
    client.post(reverse("refund_action", args=[refund.pk, "approve"]), {"note": "OK"})
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED


def test_a_controller_approves_over_the_limit_from_the_page(client, cs_user, make_user):
    controller = make_user(Role.FINANCE, username="controller")
    controller.user_permissions.add(Permission.objects.get(codename="approve_refund_unlimited"))
    refund = pending(cs_user, quantity=3, price="200.00")
    assert refund.amount == Decimal("600.00")
    client.force_login(controller)
    client.post(reverse("refund_action", args=[refund.pk, "approve"]))
    refund.refresh_from_db()
    assert refund.approved_by == controller


def test_the_finance_home_counts_refunds_by_state(client, cs_user, finance_user):
    pending(cs_user)
    client.force_login(finance_user)
    body = client.get(reverse("finance_home")).content.decode()
    assert "Refunds to approve" in body
    assert reverse("refund_queue") in body


def test_the_queue_shows_the_oldest_refunds_up_to_its_limit_and_says_so(
    client, cs_user, finance_user, monkeypatch
):
    # given three refunds waiting, and a queue that shows two at a time
    monkeypatch.setattr("finance.refund_selectors.QUEUE_LIMIT", 2)
    oldest, second, newest = (pending(cs_user) for _ in range(3))
    client.force_login(finance_user)

    # when finance opens the queue
    body = client.get(reverse("refund_queue")).content.decode()

    # then it lists the two waiting longest, says more wait, and still counts all three
    assert f'id="refund-{oldest.pk}"' in body
    assert f'id="refund-{second.pk}"' in body
    assert f'id="refund-{newest.pk}"' not in body
    assert "Showing the oldest 2; approve these to see the next." in body
    assert 'badge badge-warn">3<' in body


def test_the_other_tabs_show_each_refunds_state_and_who_decided(client, cs_user, make_user):
    # given a refund approved by a controller
    refund = pending(cs_user)
    controller = make_user(Role.FINANCE, username="controller")
    controller.user_permissions.add(Permission.objects.get(codename="approve_refund"))
    client.force_login(controller)
    client.post(reverse("refund_action", args=[refund.pk, "approve"]), {"note": "fine"})
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED

    # when finance opens the approved tab
    body = client.get(reverse("refund_queue") + "?state=approved").content.decode()

    # then the row shows its state and approver, and offers no approval
    row = body[body.index(f'id="refund-{refund.pk}"') :]
    assert '<span class="badge badge-info">Approved</span>' in row
    assert '<span class="muted">by controller</span>' in row
    assert 'name="refund"' not in row
    assert "formaction" not in row


def test_the_refund_page_reads_its_history_without_the_columns_it_does_not_show(
    client, cs_user, finance_user
):
    # given: a refund approved from its page (two history rows)
    refund = pending(cs_user)
    client.force_login(finance_user)
    client.post(reverse("refund_action", args=[refund.pk, "approve"]), {"note": "Checked"})

    # when its page is shown
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("refund_detail", args=[refund.pk]))

    # then the history read loads only what a row shows
    (history,) = [q["sql"] for q in queries if '"finance_historicalrefund"' in q["sql"]]
    selected = set(re.findall(r'"finance_historicalrefund"\."(\w+)"', history.split(" FROM ")[0]))
    assert selected == {
        "history_id",
        "history_date",
        "state",
        "history_change_reason",
        "history_user_id",
    }
    # and each row still says when, which state, who and why
    body = page.content.decode()
    assert "Checked" in body
    assert f"<td>{finance_user.username}</td>" in body
    assert "<td>Approved</td>" in body
