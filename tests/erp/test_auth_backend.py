"""Loading the request's user: its permissions and roles come in the user's one query, fresh on
every request (erp.auth_backends.PermissionsPreloadingBackend)."""

import pytest
from django.contrib.auth import load_backend
from django.contrib.auth.models import Group, Permission

from erp.roles import Role, roles_of
from finance.models.refunds import APPROVE_PERMISSION, UNLIMITED_PERMISSION

pytestmark = pytest.mark.django_db

BACKEND = "erp.auth_backends.PermissionsPreloadingBackend"


def load(user_id):
    return load_backend(BACKEND).get_user(user_id)


def test_the_user_comes_with_its_own_and_its_groups_permissions_and_roles(
    make_user, django_assert_num_queries
):
    # given a finance clerk who was also given one permission of their own
    clerk = make_user(Role.FINANCE, Role.CUSTOMER_SERVICE, username="fay")
    clerk.user_permissions.add(Permission.objects.get(codename="approve_refund_unlimited"))

    # when the user is loaded as a request loads it
    with django_assert_num_queries(1):
        user = load(clerk.pk)

    # then every check and the roles are answered without another query
    with django_assert_num_queries(0):
        assert user.username == "fay"
        assert user.has_perm(APPROVE_PERMISSION)  # the finance group's
        assert user.has_perm(UNLIMITED_PERMISSION)  # their own
        assert not user.has_perm("warehouse.release_quarantine")
        assert roles_of(user) == [Role.CUSTOMER_SERVICE, Role.FINANCE]


def test_a_role_changed_by_an_administrator_counts_from_the_next_load(make_user):
    # given a finance clerk loaded once
    clerk = make_user(Role.FINANCE)
    assert load(clerk.pk).has_perm(APPROVE_PERMISSION)

    # when an administrator takes approving away from the finance group and moves the clerk
    finance = Group.objects.get(name=Role.FINANCE)
    finance.permissions.remove(Permission.objects.get(codename="approve_refund"))
    clerk.groups.set(Group.objects.filter(name=Role.CUSTOMER_SERVICE))

    # then the next load no longer may approve and has the new role
    user = load(clerk.pk)
    assert not user.has_perm(APPROVE_PERMISSION)
    assert roles_of(user) == [Role.CUSTOMER_SERVICE]


def test_an_inactive_or_unknown_user_is_nobody(make_user):
    # given a user who was deactivated
    gone = make_user(Role.WAREHOUSE)
    gone.is_active = False
    gone.save()

    # then neither they nor an id that names no one is loaded
    assert load(gone.pk) is None
    assert load(gone.pk + 1000) is None


def test_a_user_from_elsewhere_reads_its_roles(make_user, django_assert_num_queries):
    # given a user not loaded by the backend (a form, the admin, a test)
    user = make_user(Role.WAREHOUSE)
    user.refresh_from_db()

    # then its roles are read, as before
    with django_assert_num_queries(1):
        assert roles_of(user) == [Role.WAREHOUSE]
