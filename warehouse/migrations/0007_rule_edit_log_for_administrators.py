"""Administrators read the disposition rule edit log in the Django admin (view only: the
log is written by `disposition_rule_save`). Migration 0006 created the model after the
warehouse grants had run, so its permission reached no group."""

from django.db import migrations

from erp.migration_grants import role_grants

grant, revoke = role_grants("warehouse", {"administrator": ["view_dispositionruleedit"]})


class Migration(migrations.Migration):
    dependencies = [("warehouse", "0006_disposition_rule_edits"), ("erp", "0002_role_groups")]

    operations = [migrations.RunPython(grant, revoke)]
