"""Signing in and permissions: Django's model backend, with the signed-in user's permissions
read in the same query as the user on every request."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef, Value
from django.db.models.functions import Concat


def _permission_names(**where):
    return ArraySubquery(
        Permission.objects.filter(**where)
        .order_by()
        .values(permission=Concat("content_type__app_label", Value("."), "codename"))
    )


class PermissionsPreloadingBackend(ModelBackend):
    """`ModelBackend`, except that loading the request's user also loads its own and its
    groups' permissions (two array subqueries in the user's query), so the first permission
    check of a request costs no query. ModelBackend would read them with two queries at
    that check, on every request: the same rows, fresh each request — nothing is kept
    between requests, so a role changed by an administrator counts from the next request,
    as before.

    SQLite (the embedded demo) has no arrays: there the permissions load as ModelBackend
    loads them. Superusers are not preloaded (they hold every permission without a look-up).
    """

    def get_user(self, user_id):
        users = get_user_model()._default_manager.filter(pk=user_id)
        preload = connection.vendor == "postgresql"
        if preload:
            user_key = OuterRef("pk")
            users = users.annotate(
                own_permission_names=_permission_names(user=user_key),
                group_permission_names=_permission_names(group__user=user_key),
            )
        user = users.first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if preload and not user.is_superuser:
            # The caches ModelBackend fills on the first check (`_get_permissions`).
            user._user_perm_cache = set(user.own_permission_names)
            user._group_perm_cache = set(user.group_permission_names)
        return user
