"""Shared fixtures: one signed-in user per role, built on the groups the migrations create."""

import pytest
from django.contrib.auth.models import Group

from erp.roles import Role
from tests.factories import UserFactory


@pytest.fixture
def make_user(db):
    """Build a user holding `roles` (Role values); administrators also get the staff flag."""

    def make(*roles: Role, username: str | None = None):
        name = username or "_".join(roles) or "norole"
        user = UserFactory(username=name, is_staff=Role.ADMINISTRATOR in roles)
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


@pytest.fixture
def cs_user(make_user):
    return make_user(Role.CUSTOMER_SERVICE)


@pytest.fixture
def warehouse_user(make_user):
    return make_user(Role.WAREHOUSE)


@pytest.fixture
def finance_user(make_user):
    return make_user(Role.FINANCE)


@pytest.fixture
def operations_user(make_user):
    return make_user(Role.OPERATIONS_MANAGER)


@pytest.fixture
def administrator_user(make_user):
    return make_user(Role.ADMINISTRATOR)


def pytest_collection_modifyitems(items):
    """Long tests (the fault simulation) go first, so that under pytest-xdist one process runs
    them while the other works through the rest, instead of finishing alone at the end. The
    sort is stable: everything else keeps its order."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)
