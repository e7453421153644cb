"""An index on when orders shipped, for reporting's return rate (units shipped per SKU in a
window): the snapshot job reads one day of shipments at a time and the dashboards today's,
which without it is a scan of every order. Plain SQL and partial (unshipped orders are never
counted), like returns 0006; SalesOrder's model state is unchanged."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("erp", "0013_exception_outcome")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS salesorder_shipped_at_rpt "
            "ON erp_salesorder (shipped_at) WHERE shipped_at IS NOT NULL",
            reverse_sql="DROP INDEX IF EXISTS salesorder_shipped_at_rpt",
        )
    ]
