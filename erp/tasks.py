"""Background jobs of the core app."""

from celery import shared_task

from erp.services import exceptions_escalate_overdue as escalate_overdue
from erp.services import worker_heartbeat_record


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
