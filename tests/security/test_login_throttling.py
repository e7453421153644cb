"""Sign-in throttling (django-axes): AXES_FAILURE_LIMIT failed sign-ins for one user name from
one address lock that pair out, with the reason on the sign-in page; a success resets the
count. The test settings switch axes off for every other test; these switch it on."""

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory
from django.urls import reverse

from erp.security import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
LOCKED = "Too many failed sign-in attempts for this user name from this device"


@pytest.fixture(autouse=True)
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def agent():
    user = UserFactory(username="agent")
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(username: str, password: str, *, ip: str = "10.0.0.1", client=None):
    client = client or Client(REMOTE_ADDR=ip)
    return client.post(reverse("login"), {"username": username, "password": password})


def test_production_defaults():
    assert django_settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert django_settings.AXES_RESET_ON_SUCCESS is True
    assert "axes.backends.AxesStandaloneBackend" in django_settings.AUTHENTICATION_BACKENDS
    assert django_settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_failures_up_to_the_limit_lock_the_user_name_from_that_address(agent):
    # Given two failed sign-ins: still the ordinary "wrong password" page
    for _ in range(2):
        response = sign_in("agent", "wrong")
        assert response.status_code == 200
        assert LOCKED not in response.content.decode()

    # When the third fails, the pair is locked out: 429 and the sign-in page saying why
    response = sign_in("agent", "wrong")
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert "Try again in 15 minutes" in page
    assert 'name="username"' in page
    assert 'value="agent"' in page

    # Then even the right password is refused from there
    response = sign_in("agent", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in response.client.session


def test_the_lockout_is_per_user_name_and_address(agent):
    other = UserFactory(username="other")
    other.set_password(PASSWORD)
    other.save()
    for _ in range(3):
        sign_in("agent", "wrong", ip="10.0.0.1")

    # Another user name from the same address, and the same user from another, still sign in
    assert sign_in("other", PASSWORD, ip="10.0.0.1").status_code == 302
    assert sign_in("agent", PASSWORD, ip="10.0.0.2").status_code == 302


def test_a_successful_sign_in_resets_the_count(agent):
    for _ in range(2):
        sign_in("agent", "wrong")
    assert sign_in("agent", PASSWORD).status_code == 302

    # Two more failures after the success do not reach the limit of three
    for _ in range(2):
        assert sign_in("agent", "wrong").status_code == 200
    assert sign_in("agent", PASSWORD).status_code == 302


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    assert client_ip(request) == "10.9.9.9"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_ip(request) == "203.0.113.7"
