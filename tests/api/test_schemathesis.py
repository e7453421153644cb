"""The API against its own OpenAPI schema, with schemathesis: for every operation, generated
requests (bounded and derandomized) by a user holding every API permission get no 5xx, only
documented status codes, and bodies and headers that conform to the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from erp.roles import Role
from erp.wsgi import application
from tests.api.objects import api_schema
from tests.factories import ExceptionCaseFactory, ReturnCaseFactory

# The token every generated request carries: schemathesis knows it as the schema's tokenAuth
# scheme, so its auth checks also send requests without it (and expect 403).
TOKEN = "api0schemathesis0token0000000000000000ab"
CONFIG = SchemathesisConfig.from_dict(
    {
        # Bounded by max_examples: the coverage phase would add every boundary case the
        # schema defines, unbounded.
        "phases": {"coverage": {"enabled": False}},
        "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {TOKEN}"}}},
        # Schema-valid input the business refuses (an unknown SKU, a blank reason after
        # trimming, a fraud review still open) is a documented 400, not a server fault.
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "403", "404", "409"]},
            # Negative data still runs (no 5xx, conforming 400s), but django-filter reads an
            # empty or repeated query value as "no filter" / the last one, which this check
            # would call accepting invalid data.
            "negative_data_rejection": {"enabled": False},
        },
    }
)
# The REST API itself; the schema and docs pages are tested with the role matrix.
schema = schemathesis.openapi.from_dict(api_schema(), config=CONFIG).include(path_regex="^/api/v1/")
schema.app = application


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI app, unlike Django's test client, would close the test's connection (and its
    transaction) after each request: keep it open, as the test client does."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def token(make_user, wsgi_in_test_transaction):
    # The administrator role holds every permission an API endpoint checks.
    user = make_user(Role.ADMINISTRATOR)
    ReturnCaseFactory()
    ExceptionCaseFactory()
    Token.objects.create(user=user, key=TOKEN)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, token):
    case.call_and_validate()
