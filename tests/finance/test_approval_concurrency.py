"""32 people approving the same refund at the same moment, each on their own database
connection: exactly one approval, one execution queued, one history row."""

import threading

import pytest
from django.db import connection

from erp.models import OutboxMessage
from erp.roles import Role
from finance.models import RefundState
from finance.services import REFUND_TOPIC, refund_approve
from tests.finance.refund_cases import open_case, refund_of


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_32_concurrent_approvals_of_one_refund_approve_it_once(make_user, cs_user):
    # given a refund waiting for approval and 32 finance clerks
    refund = refund_of(open_case(cs_user, quantity=2, price="30.00", trigger="on_authorization"))
    assert refund.state == RefundState.PENDING_APPROVAL
    clerks = [make_user(Role.FINANCE, username=f"clerk{n}") for n in range(32)]
    start = threading.Barrier(len(clerks))
    approved, refused, errors = [], [], []

    def approve(clerk):
        try:
            start.wait()
            refund_approve(refund_id=refund.pk, actor=clerk)
            approved.append(clerk.pk)
        except Exception as error:
            (refused if type(error).__name__ == "TransitionNotAllowed" else errors).append(error)
        finally:
            connection.close()

    # when they all approve it at once
    threads = [threading.Thread(target=approve, args=(clerk,)) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one approval went through; the 31 others were told it is approved already
    assert errors == []
    assert len(approved) == 1
    assert len(refused) == 31
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    assert refund.approved_by_id == approved[0]
    assert refund.execution_round == 1
    assert refund.history.filter(state=RefundState.APPROVED).count() == 1
    assert (
        OutboxMessage.objects.filter(topic=REFUND_TOPIC, payload__refund_id=refund.pk).count() == 1
    )
