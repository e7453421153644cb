"""Build the daily KPI snapshots now (the nightly Celery beat job does the same)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from reporting.snapshots import forecast_snapshot_build, kpi_snapshots_backfill


class Command(BaseCommand):
    help = "Build missing KPI snapshots of the last N days, rebuild today, yesterday, the forecast."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=60)

    def handle(self, *args, days: int, **options):
        built = kpi_snapshots_backfill(through=timezone.now().date(), days=days)
        forecast_snapshot_build()
        self.stdout.write(f"Built KPI snapshots for {len(built)} day(s) and the inbound forecast.")
