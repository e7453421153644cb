"""Indexes for reporting's live window (reporting.parts): the dashboards read every day before
today from the daily KPI snapshots and compute only today live, which selects cases by the
moment a stage ended. Plain SQL, so the returns models' state is unchanged (reporting owns
these; nothing in returns queries by them)."""

from django.db import migrations

STAMPS = [
    "requested_at",
    "authorized_at",
    "delivered_at",
    "received_at",
    "inspected_at",
    "closed_at",
]


class Migration(migrations.Migration):
    dependencies = [("returns", "0005_channel_event_kinds")]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS returncase_{stamp}_rpt "
            f"ON returns_returncase ({stamp}) WHERE {stamp} IS NOT NULL",
            reverse_sql=f"DROP INDEX IF EXISTS returncase_{stamp}_rpt",
        )
        for stamp in STAMPS
    ]
