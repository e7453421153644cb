"""Finance opens the stock screens (inventory.view_stockbalance) too: grant it the views of the
rest of what those screens show (channel ATS, serialized units), so a role sees the same on
its screens and through the API. Grants are frozen here, as in 0002."""

from django.db import migrations

GRANTS = {"finance": ["view_channelavailability", "view_inventoryunit"]}


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        granted = Permission.objects.filter(
            content_type__app_label="inventory", codename__in=codenames
        )
        if granted.count() != len(codenames):
            raise RuntimeError(f"Unknown permissions for {role}: {codenames}")
        Group.objects.get_or_create(name=role)[0].permissions.add(*granted)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        for group in Group.objects.filter(name=role):
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="inventory", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_append_only_on_sqlite_and_role_grants")]

    operations = [migrations.RunPython(grant, revoke)]
