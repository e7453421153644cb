"""Finance's Celery tasks. Refund execution itself is an outbox topic (erp.tasks.outbox_dispatch
sends it through `finance.services.refund_outbox_send`, with the outbox's retries and backoff)."""

from celery import shared_task

from finance.services import refund_holds_release_cleared


@shared_task(name="finance.tasks.refund_holds_release", acks_late=True)
def refund_holds_release() -> int:
    """Release the holds of cases whose exceptions were all closed (a dismissal)."""
    return refund_holds_release_cleared()
