"""API clients authenticated the way a channel or a BI tool is: with a token."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from erp.roles import Role

ROLES = {
    "cs": Role.CUSTOMER_SERVICE,
    "warehouse": Role.WAREHOUSE,
    "finance": Role.FINANCE,
    "operations": Role.OPERATIONS_MANAGER,
    "administrator": Role.ADMINISTRATOR,
}


@pytest.fixture
def api_as(make_user):
    """A client for `who` ("anonymous", "no_role" or a key of ROLES), with a token of its own."""

    def client_for(who: str) -> APIClient:
        client = APIClient()
        if who == "anonymous":
            return client
        user = make_user(*([ROLES[who]] if who in ROLES else []), username=f"api_{who}")
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        client.user = user
        return client

    return client_for
