"""Customer service, warehouse and finance open their own dashboard (view_dashboards, which
also shows the Dashboards entry in their navigation); operations managers open every role's and
the executive overview (view_all_dashboards) from the Operations page, which keeps their long
navigation on one line. Administrators get all."""

from django.db import migrations

from erp.migration_grants import role_grants

forward, backward = role_grants(
    "reporting",
    {
        "customer_service": ["view_dashboards"],
        "warehouse": ["view_dashboards"],
        "finance": ["view_dashboards"],
        "operations_manager": ["view_all_dashboards", "view_kpisnapshot"],
    },
)


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_kpi_snapshots"), ("erp", "0002_role_groups")]

    operations = [migrations.RunPython(forward, backward)]
