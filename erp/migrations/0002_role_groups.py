"""Creates the five role groups with the permissions each role works with.

The grants are frozen here, as migrations must be; a later app that adds screens grants its
own permissions to these groups in its own migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_MASTER_DATA = [
    "view_channel",
    "view_warehouse",
    "view_location",
    "view_category",
    "view_product",
    "view_bundlecomponent",
    "view_channellisting",
    "view_customer",
    "view_customerchannelaccount",
    "view_salesorder",
    "view_orderline",
    "view_shippeditem",
    "view_reasoncode",
    "view_reasoncodemapping",
]

ROLE_PERMISSIONS = {
    "customer_service": [
        "access_customer_service",
        "view_channel",
        "view_product",
        "view_category",
        "view_bundlecomponent",
        "view_channellisting",
        "view_customer",
        "view_customerchannelaccount",
        "view_salesorder",
        "view_orderline",
        "view_shippeditem",
        "view_reasoncode",
    ],
    "warehouse": [
        "access_warehouse",
        "view_warehouse",
        "view_location",
        "view_category",
        "view_product",
        "view_bundlecomponent",
    ],
    "finance": [
        "access_finance",
        "view_channel",
        "view_customer",
        "view_salesorder",
        "view_orderline",
        "view_product",
        "view_category",
    ],
    "operations_manager": [
        "access_operations",
        "access_customer_service",
        *VIEW_MASTER_DATA,
        "add_reasoncodemapping",
        "change_reasoncodemapping",
        "add_channellisting",
        "change_channellisting",
        "add_location",
        "change_location",
    ],
    # Administrators hold every permission of the core app; the staff flag on their user
    # opens the Django admin.
    "administrator": None,
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after migrate finishes; grant them now, in this run.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    core = Permission.objects.filter(content_type__app_label="erp")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        granted = core if codenames is None else core.filter(codename__in=codenames)
        if codenames is not None and granted.count() != len(set(codenames)):
            missing = set(codenames) - set(granted.values_list("codename", flat=True))
            raise RuntimeError(f"Unknown permissions for {role}: {sorted(missing)}")
        group.permissions.add(*granted)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("erp", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
