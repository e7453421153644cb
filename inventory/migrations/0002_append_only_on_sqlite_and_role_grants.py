"""The embedded (SQLite) database refuses ledger edits too, and roles get the stock permissions.

pgtrigger installs its Protect trigger on PostgreSQL only; on SQLite the same rule is two
plain triggers. Grants are frozen here, as in erp.0002_role_groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SQLITE_TRIGGERS = [
    (
        "stock_movement_no_update",
        "BEFORE UPDATE ON inventory_stockmovement",
    ),
    (
        "stock_movement_no_delete",
        "BEFORE DELETE ON inventory_stockmovement",
    ),
]

VIEW_STOCK = [
    "view_stockmovement",
    "view_stockbalance",
    "view_inventoryunit",
    "view_channelavailability",
]
ROLE_PERMISSIONS = {
    "customer_service": ["view_inventoryunit", "view_channelavailability"],
    "warehouse": VIEW_STOCK,
    "finance": ["view_stockmovement", "view_stockbalance"],
    "operations_manager": [
        *VIEW_STOCK,
        "adjust_stock",
        "release_quarantine",
        "view_channelrule",
        "add_channelrule",
        "change_channelrule",
        "view_safetystock",
        "add_safetystock",
        "change_safetystock",
        "delete_safetystock",
    ],
    "administrator": None,
}


def sqlite_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, when in SQLITE_TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {name} {when} "
            "BEGIN SELECT RAISE(ABORT, 'Cannot update or delete rows from inventory_stockmovement table: the ledger is append-only'); END"
        )


def sqlite_drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, _ in SQLITE_TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


def grant_stock_permissions(apps, schema_editor):
    app_config = apps.get_app_config("inventory")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    stock = Permission.objects.filter(content_type__app_label="inventory")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        granted = stock if codenames is None else stock.filter(codename__in=codenames)
        if codenames is not None and granted.count() != len(set(codenames)):
            missing = set(codenames) - set(granted.values_list("codename", flat=True))
            raise RuntimeError(f"Unknown permissions for {role}: {sorted(missing)}")
        group.permissions.add(*granted)


def revoke_stock_permissions(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="inventory"))


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("erp", "0002_role_groups"),
    ]

    operations = [
        migrations.RunPython(sqlite_append_only, sqlite_drop_append_only),
        migrations.RunPython(grant_stock_permissions, revoke_stock_permissions),
    ]
