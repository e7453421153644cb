"""Scheduled reporting jobs (CELERY_BEAT_SCHEDULE): KPI snapshots and the SKU anomaly scan."""

from celery import shared_task
from django.utils import timezone

from reporting.anomaly import sku_anomalies_raise
from reporting.snapshots import (
    forecast_snapshot_build,
    kpi_snapshots_refresh,
    pipeline_snapshot_build,
)


@shared_task(acks_late=True)
def kpi_snapshots_build() -> list[str]:
    """Yesterday's and today's snapshots, any missing day of the last 60 and any stored day a
    late change made stale; and the inbound forecast for the next 14 days."""
    today = timezone.now().date()
    built = [day.isoformat() for day in kpi_snapshots_refresh(today=today)]
    forecast_snapshot_build()
    return built


@shared_task(acks_late=True)
def open_pipeline_snapshot() -> int:
    """The open-returns pipeline per dimension as of now, for the dashboards' headline counts."""
    return pipeline_snapshot_build()


@shared_task(acks_late=True)
def sku_return_anomalies_scan() -> list[int]:
    """Open (or add to) an investigate-SKU exception for each return-rate anomaly."""
    return [exception.pk for exception in sku_anomalies_raise()]
