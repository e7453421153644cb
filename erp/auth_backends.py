"""Signing in and permissions: Django's model backend, with the signed-in user's permissions
and roles read in the same query as the user on every request."""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


@cache
def _user_query() -> tuple[str, list[str]]:
    """The SQL that reads one user with three arrays (its own permissions, its groups'
    permissions, its group names), and the user's field names in column order.

    Written once per process: the same query built with the ORM (array subqueries) cost about
    1 ms of CPU per request to compile, more than the query itself."""
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    user_permissions = user_model._meta.get_field("user_permissions")
    groups = user_model._meta.get_field("groups")
    group_permissions = Group._meta.get_field("permissions")
    qn = connection.ops.quote_name
    user_table = qn(user_model._meta.db_table)
    user_pk = qn(user_model._meta.pk.column)
    permission = qn(Permission._meta.db_table)
    content_type = qn(ContentType._meta.db_table)
    # "app_label.codename", as ModelBackend names a permission.
    name = f"ct.{qn('app_label')} || '.' || p.{qn('codename')}"
    perm_join = (
        f"JOIN {permission} p ON p.{qn('id')} = link.{{perm}} "
        f"JOIN {content_type} ct ON ct.{qn('id')} = p.{qn('content_type_id')}"
    )
    own = (
        f"SELECT {name} FROM {qn(user_permissions.m2m_db_table())} link "
        + perm_join.format(perm=qn(user_permissions.m2m_reverse_name()))
        + f" WHERE link.{qn(user_permissions.m2m_column_name())} = u.{user_pk}"
    )
    via_groups = (
        f"SELECT {name} FROM {qn(groups.m2m_db_table())} member "
        f"JOIN {qn(group_permissions.m2m_db_table())} link "
        f"ON link.{qn(group_permissions.m2m_column_name())} = "
        f"member.{qn(groups.m2m_reverse_name())} "
        + perm_join.format(perm=qn(group_permissions.m2m_reverse_name()))
        + f" WHERE member.{qn(groups.m2m_column_name())} = u.{user_pk}"
    )
    group_names = (
        f"SELECT g.{qn('name')} FROM {qn(groups.m2m_db_table())} member "
        f"JOIN {qn(Group._meta.db_table)} g "
        f"ON g.{qn('id')} = member.{qn(groups.m2m_reverse_name())} "
        f"WHERE member.{qn(groups.m2m_column_name())} = u.{user_pk}"
    )
    columns = ", ".join(f"u.{qn(field.column)}" for field in fields)
    sql = (
        f"SELECT {columns}, ARRAY({own}), ARRAY({via_groups}), ARRAY({group_names}) "
        f"FROM {user_table} u WHERE u.{user_pk} = %s"
    )
    return sql, [field.attname for field in fields]


class PermissionsPreloadingBackend(ModelBackend):
    """`ModelBackend`, except that loading the request's user also loads its own and its
    groups' permissions and its group names (three arrays in the user's query), so the
    permission checks and the role shown in the top bar cost no query. ModelBackend would read
    the permissions with two queries at the first check and the roles with one more, on every
    request: the same rows, fresh each request — nothing is kept between requests, so a role
    changed by an administrator counts from the next request, as before.

    SQLite (the embedded demo) has no arrays: there the user loads as ModelBackend loads it.
    Superusers' permissions are not kept (they hold every permission without a look-up).
    """

    def get_user(self, user_id):
        if connection.vendor != "postgresql":
            return super().get_user(user_id)
        sql, field_names = _user_query()
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        *values, own, via_groups, group_names = row
        user = get_user_model().from_db(connection.alias, field_names, values)
        if not self.user_can_authenticate(user):
            return None
        user.group_names = frozenset(group_names)
        if not user.is_superuser:
            # The caches ModelBackend fills on the first check (`_get_permissions`).
            user._user_perm_cache = set(own)
            user._group_perm_cache = set(via_groups)
        return user
