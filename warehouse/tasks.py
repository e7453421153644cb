"""Celery tasks of the warehouse: scheduled cycle count plans."""

from celery import shared_task

from warehouse.services.count_plans import count_plans_start_due


@shared_task(acks_late=True)
def count_plans_start() -> list[int]:
    """Open a count from every scheduled plan that is due (the beat runs this)."""
    return count_plans_start_due()
