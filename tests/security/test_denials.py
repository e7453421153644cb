"""Every 403 the app answers is logged on "erp.security" with who, their role, the method, the
path and the status (erp.security.DenialLogMiddleware)."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from erp.roles import Role

pytestmark = pytest.mark.django_db


def denials(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "erp.security"]


def test_a_page_refused_to_a_role_is_logged(client, cs_user, caplog):
    # Given a customer-service agent
    client.force_login(cs_user)

    # When they open the finance home page (a view raising PermissionDenied)
    with caplog.at_level(logging.WARNING, logger="erp.security"):
        response = client.get(reverse("finance_home"))

    # Then it is a 403, and one structured record says who was refused what
    assert response.status_code == 403
    (record,) = denials(caplog)
    assert record.levelno == logging.WARNING
    assert (record.user, record.role, record.method, record.path, record.status) == (
        cs_user.username,
        Role.CUSTOMER_SERVICE.value,
        "GET",
        reverse("finance_home"),
        403,
    )
    assert f"user={cs_user.username}" in record.getMessage()


def test_an_api_refusal_is_logged(client, cs_user, caplog):
    # Given a customer-service agent, who may not read stock balances through the API
    client.force_login(cs_user)

    with caplog.at_level(logging.WARNING, logger="erp.security"):
        response = client.get(reverse("inventory_api_balances"), HTTP_ACCEPT="application/json")

    # DRF's own 403 is logged the same way
    assert response.status_code == 403
    (record,) = denials(caplog)
    assert (record.user, record.method, record.status) == (cs_user.username, "GET", 403)


def test_an_anonymous_api_refusal_is_logged_as_anonymous(client, caplog):
    with caplog.at_level(logging.WARNING, logger="erp.security"):
        response = client.get(reverse("returns_api_cases"))

    assert response.status_code == 403
    (record,) = denials(caplog)
    assert (record.user, record.role) == ("anonymous", "anonymous")


def test_a_post_without_csrf_token_is_refused_and_logged(operations_user, caplog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operations_user)
    path = reverse("reconciliation_run_start")

    with caplog.at_level(logging.WARNING, logger="erp.security"):
        response = client.post(path, {"kind": "full"})

    assert response.status_code == 403
    (record,) = denials(caplog)
    assert (record.method, record.path, record.role) == (
        "POST",
        path,
        Role.OPERATIONS_MANAGER.value,
    )


def test_the_query_string_is_not_logged(client, cs_user, caplog):
    client.force_login(cs_user)
    with caplog.at_level(logging.WARNING, logger="erp.security"):
        client.get(reverse("finance_home") + "?token=abc123")
    (record,) = denials(caplog)
    assert "abc123" not in record.getMessage()
    assert record.path == reverse("finance_home")


def test_allowed_requests_log_nothing(client, cs_user, caplog):
    client.force_login(cs_user)
    with caplog.at_level(logging.WARNING, logger="erp.security"):
        assert client.get(reverse("cs_home")).status_code == 200
    assert denials(caplog) == []
