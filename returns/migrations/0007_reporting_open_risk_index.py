"""An index of the open cases by risk score, for reporting's risk queue (riskiest open cases
first, then the most valuable): the queue reads the score of its last row from it, so it
values only the cases that can make the list. Plain SQL and partial, like 0006."""

from django.db import migrations

OPEN_STATES = (
    "requested",
    "pending_review",
    "authorized",
    "in_transit",
    "delivered",
    "received",
    "inspected",
)


class Migration(migrations.Migration):
    dependencies = [("returns", "0006_reporting_indexes")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS returncase_open_risk_rpt "
            "ON returns_returncase (risk_score DESC, state) WHERE state IN ("
            + ", ".join(f"'{state}'" for state in OPEN_STATES)
            + ")",
            reverse_sql="DROP INDEX IF EXISTS returncase_open_risk_rpt",
        )
    ]
