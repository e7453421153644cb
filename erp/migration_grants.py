"""Grant an app's permissions to the role groups from a data migration.

Migrations freeze who may do what: each app lists its grants in a migration and hands them to
`role_grants`, which returns the forward and backward functions for `RunPython`:

    forward, backward = role_grants("warehouse", {"warehouse": ["receive_parcel"]})
    operations = [migrations.RunPython(forward, backward)]

Permissions are normally created after all migrations run (post_migrate), so the forward step
creates the app's permissions first; an unknown codename is an error, not a silent no-op.
The administrator group, when `administrator_gets_all` is set, receives all of the app's
permissions, which is what the Django admin needs to show its models.
"""

from collections.abc import Callable, Mapping, Sequence

from django.contrib.auth.management import create_permissions

Step = Callable[[object, object], None]


def _ensure_permissions(apps, app_label: str) -> None:
    app_config = apps.get_app_config(app_label)
    # create_permissions skips an app whose models module is unset, as it is inside migrations.
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = None


def role_grants(
    app_label: str,
    grants: Mapping[str, Sequence[str]],
    *,
    administrator_gets_all: bool = True,
) -> tuple[Step, Step]:
    """Forward and backward `RunPython` steps granting `grants` ({group: [codename]})."""

    def forward(apps, schema_editor) -> None:
        _ensure_permissions(apps, app_label)
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        ours = Permission.objects.filter(content_type__app_label=app_label)
        for role, codenames in grants.items():
            wanted = set(codenames)
            granted = list(ours.filter(codename__in=wanted))
            missing = wanted - {permission.codename for permission in granted}
            if missing:
                raise RuntimeError(f"Unknown {app_label} permissions for {role}: {sorted(missing)}")
            Group.objects.get_or_create(name=role)[0].permissions.add(*granted)
        if administrator_gets_all:
            Group.objects.get_or_create(name="administrator")[0].permissions.add(*ours)

    def backward(apps, schema_editor) -> None:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        ours = Permission.objects.filter(content_type__app_label=app_label)
        for role, codenames in grants.items():
            for group in Group.objects.filter(name=role):
                group.permissions.remove(*ours.filter(codename__in=codenames))

    return forward, backward
