"""An index on when refunds were issued, for reporting's refund latency, accuracy and the
inspection-to-refund stage: the snapshot job reads one day of issued refunds at a time and the
dashboards today's. Plain SQL and partial (only issued refunds count), like returns 0006;
Refund's model state is unchanged."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("finance", "0004_finance_controls")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS refund_issued_at_rpt "
            "ON finance_refund (issued_at) WHERE state = 'issued'",
            reverse_sql="DROP INDEX IF EXISTS refund_issued_at_rpt",
        )
    ]
