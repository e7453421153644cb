"""API permissions: the same Django model permissions the screens use, reads included."""

from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """DRF's DjangoModelPermissions lets any signed-in user read; here reading needs `view_*`
    too, so a role sees through the API exactly what it sees on its screens."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
