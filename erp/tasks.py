"""Background jobs of the core app."""

from celery import shared_task
from django.utils import timezone

from erp.services import exceptions_escalate_overdue as escalate_overdue
from erp.services import (
    inbound_event_process,
    inbound_events_requeue_stale,
    outbox_dispatch_due,
    worker_heartbeat_record,
)
from erp.services.threepl_pull import threepl_stock_pull_all


@shared_task(bind=True, name="erp.tasks.worker_heartbeat", acks_late=True)
def worker_heartbeat(self) -> dict:
    """Record that a worker is alive and consuming; beat runs it every minute."""
    heartbeat = worker_heartbeat_record(hostname=self.request.hostname or "unknown")
    return {"hostname": heartbeat.hostname, "last_seen_at": heartbeat.last_seen_at.isoformat()}


@shared_task(name="erp.tasks.exceptions_escalate_overdue", acks_late=True)
def exceptions_escalate_overdue() -> dict:
    """Escalate exceptions past their SLA; beat runs it every five minutes. Running it twice
    escalates nothing twice: an escalated exception is no longer a candidate."""
    return {"escalated": escalate_overdue()}


class InboundEventRetry(Exception):
    """The handler failed; Celery retries the event with backoff."""


@shared_task(
    bind=True,
    name="erp.tasks.inbox_process",
    acks_late=True,
    autoretry_for=(InboundEventRetry,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def inbox_process(self, event_id: int) -> dict:
    """Apply one inbound event. Safe to run twice: the service locks the event and does
    nothing once it left `received`. The last allowed attempt marks it `failed`."""
    outcome = inbound_event_process(
        event_id=event_id, final_attempt=self.request.retries >= self.max_retries
    )
    if outcome.retry:
        raise InboundEventRetry(outcome.error)
    return {"event": event_id, "status": outcome.status}


@shared_task(name="erp.tasks.inbox_requeue_stale", acks_late=True)
def inbox_requeue_stale() -> dict:
    """Resend events whose processing task never reached a worker; beat runs it every minute."""
    return {"requeued": inbound_events_requeue_stale()}


@shared_task(name="erp.tasks.outbox_dispatch", acks_late=True)
def outbox_dispatch() -> dict:
    """Send due outbox messages; after each commit that queues one, and every 30 s by beat."""
    result = outbox_dispatch_due()
    return {"sent": result.sent, "failed": result.failed, "dead": result.dead}


# 3PL stock is pulled this often; the slot names the pull, so a re-run records nothing new.
THREEPL_PULL_EVERY_SECONDS = 900


@shared_task(name="erp.tasks.threepl_stock_pull", acks_late=True)
def threepl_stock_pull() -> dict:
    """Pull ShipBob and Extensiv stock into the inbox; beat runs it every 15 minutes."""
    now = timezone.now()
    slot = str(int(now.timestamp()) // THREEPL_PULL_EVERY_SECONDS)
    outcomes = threepl_stock_pull_all(slot=slot, now=now)
    return {
        "pulled": sum(1 for o in outcomes if o.created),
        "failed": [f"{o.source}/{o.account}: {o.error}" for o in outcomes if o.error],
    }


@shared_task(name="erp.tasks.amazon_returns_pull", acks_late=True)
def amazon_returns_pull() -> dict:
    """Pull each Amazon account's FBA customer returns report into the inbox; beat runs it
    every hour. Rows already seen change nothing, so overlapping pulls are safe."""
    from erp.services.amazon_reports import amazon_returns_report_pull_all

    return amazon_returns_report_pull_all()


@shared_task(name="erp.tasks.inbox_process_batch", acks_late=True)
def inbox_process_batch(event_ids: list[int]) -> dict:
    """Apply a batch of inbound events in one transaction (a backlog drains with one task and
    one commit per batch instead of per event). Safe to run twice: only `received` events
    are applied, and rows another worker holds are skipped."""
    from erp.services.inbox_batch import inbound_events_process_batch, inbound_events_retry

    counts = inbound_events_process_batch(event_ids=event_ids)
    if counts.get("received"):
        inbound_events_retry(event_ids=event_ids)
    return counts
