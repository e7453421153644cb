"""Periodic work of the returns workflow (scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from returns import services


@shared_task(name="returns.tasks.return_cases_expire_overdue", acks_late=True)
def return_cases_expire_overdue() -> int:
    """Expire authorized returns not shipped by their ship-by date; safe to run twice."""
    return services.return_cases_expire_overdue()
