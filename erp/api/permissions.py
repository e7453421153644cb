"""API permissions: the same Django model permissions the screens use, reads included."""

from rest_framework.permissions import BasePermission, DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """DRF's DjangoModelPermissions lets any signed-in user read; here reading needs `view_*`
    too, so a role sees through the API exactly what it sees on its screens."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class ActionPermissions(BasePermission):
    """For an endpoint that is not a model's CRUD (a transition, an upload, a KPI read): the
    view names in `required_permissions` the Django permissions a person needs, all of them —
    the same ones the screen's button or page checks — or in `any_permissions` a choice of
    them. Checked before the view reads anything, so a denial changes nothing."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        required = getattr(view, "required_permissions", ())
        choice = getattr(view, "any_permissions", ())
        return user.has_perms(required) and (not choice or any(map(user.has_perm, choice)))
