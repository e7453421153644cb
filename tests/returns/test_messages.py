"""Customer e-mails: rendered from templates and sent through the outbox only after the
change that caused them committed; recorded on the case's timeline."""

import pytest
from django.core import mail
from django.db import transaction

from erp.models import OutboxMessage
from erp.roles import Role
from erp.services import outbox_dispatch_due
from returns import services
from returns.messages import customer_message_render
from returns.models import ReturnCase
from returns.selectors import return_case_get, return_case_timeline
from tests.returns.conftest import delivered_order, open_case


def test_the_authorized_email_carries_the_instructions(cs_user):
    case = open_case(delivered_order(), cs_user)
    subject, body = customer_message_render(template="return_authorized", case=case)
    assert subject == f"Your return {case.rma_number} is authorized"
    assert "Return shipping is on us" in body
    assert f"ship it by {case.ship_by:%-d %B %Y}" in body


def test_the_rejected_email_states_the_reason(cs_user):
    case = open_case(delivered_order(lines=((1, "1200.00"),)), cs_user)
    case = services.return_case_reject(
        case_id=case.pk, actor=cs_user, reason="The item was engraved"
    )
    assert (
        "Why: The item was engraved"
        in customer_message_render(template="return_rejected", case=case)[1]
    )


def test_an_unknown_template_is_refused(cs_user):
    case = open_case(delivered_order(), cs_user)
    with pytest.raises(ValueError, match="nope"):
        customer_message_render(template="nope", case=case)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_emails_leave_only_after_commit_and_show_on_the_timeline(
    make_user, django_capture_on_commit_callbacks
):

    agent = make_user(Role.CUSTOMER_SERVICE)
    order = delivered_order()

    # given a request whose transaction fails: nothing is queued, nothing is sent
    def open_then_fail():
        with transaction.atomic():
            open_case(order, agent)
            raise RuntimeError("the caller's next step failed")

    with pytest.raises(RuntimeError):
        open_then_fail()
    assert outbox_dispatch_due().sent == 0
    assert (OutboxMessage.objects.count(), len(mail.outbox)) == (0, 0)
    # when a request commits, the e-mail is sent by the dispatcher, not by the service
    case = open_case(order, agent)
    assert len(mail.outbox) == 0
    assert outbox_dispatch_due().sent == 1
    (email,) = mail.outbox
    assert email.to == [order.customer.email]
    assert email.subject == f"Your return {case.rma_number} is authorized"
    # and the timeline says it was sent
    case = return_case_get(pk=case.pk)
    titles = [entry.title for entry in return_case_timeline(case=case, exceptions=[])]
    assert "Customer message queued: Return authorized, with instructions" in titles
    assert "Customer e-mail sent: Return authorized, with instructions" in titles
    assert ReturnCase.objects.count() == 1
