"""Sessions read from Redis and kept in PostgreSQL (erp.sessions, on when CACHE_URL is set):
a signed-in request reads no session row, signing out ends the session for every holder of the
cookie, and an unreachable Redis neither signs anyone in nor lets a sign-out half happen."""

import uuid

import pytest
import redis
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.roles import Role

pytestmark = pytest.mark.django_db

PAGE = "/cs/returns/?q="
PASSWORD = "a-long-enough-password-0123"
# The test run's own Redis database (the broker's), each test under keys of its own.
REDIS = settings.CELERY_BROKER_URL
# Nothing listens on port 1: every call to this "Redis" fails at once.
UNREACHABLE = "redis://127.0.0.1:1/0"


def redis_sessions(location: str = REDIS):
    return override_settings(
        SESSION_ENGINE="erp.sessions",
        CACHES={
            "default": {
                "BACKEND": "erp.cache.SessionRedisCache",
                "LOCATION": location,
                "KEY_PREFIX": f"test-sessions-{uuid.uuid4().hex}",
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        },
    )


@pytest.fixture
def agent(make_user):
    user = make_user(Role.CUSTOMER_SERVICE)
    user.set_password(PASSWORD)
    user.save()
    return user


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def same_session(client: Client) -> Client:
    """Another device (or web process) presenting the same session cookie."""
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME]
    return other


def test_a_signed_in_request_reads_its_session_from_redis_not_the_database(agent):
    with redis_sessions():
        # given an agent signed in
        client = signed_in(agent)
        key = client.session.session_key

        # when they open a page
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PAGE)

        # then it is served without reading the session table, from the entry in Redis
        assert response.status_code == 200
        assert not [q for q in queries.captured_queries if "django_session" in q["sql"]]
        assert cache.get(f"django.contrib.sessions.cached_db{key}") is not None
        assert Session.objects.filter(session_key=key).exists()


def test_requests_read_their_sessions_through_one_redis_client(agent, monkeypatch):
    with redis_sessions():
        # given an agent signed in (the cache has its client)
        client = signed_in(agent)
        built = []
        make = redis.Redis.__init__

        def counted(self, *args, **kwargs):
            built.append(kwargs.get("connection_pool"))
            make(self, *args, **kwargs)

        monkeypatch.setattr(redis.Redis, "__init__", counted)

        # when they open three pages
        for _ in range(3):
            assert client.get(PAGE).status_code == 200

        # then each read its session from Redis with the client already built
        assert built == []
        assert cache._cache.get_client() is cache._cache.get_client(write=True)


def test_signing_out_ends_the_session_for_every_holder_of_the_cookie(agent):
    with redis_sessions():
        # given an agent signed in, and the same session cookie held elsewhere
        client = signed_in(agent)
        elsewhere = same_session(client)
        key = client.session.session_key
        assert elsewhere.get(PAGE).status_code == 200

        # when they sign out
        client.post(reverse("logout"))

        # then the session is gone from Redis and the database, and the cookie opens nothing
        assert cache.get(f"django.contrib.sessions.cached_db{key}") is None
        assert not Session.objects.filter(session_key=key).exists()
        response = elsewhere.get(PAGE)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_while_redis_is_unreachable_sessions_are_read_from_the_database(agent):
    # given an agent signed in, then Redis unreachable
    with redis_sessions():
        client = signed_in(agent)
    with redis_sessions(UNREACHABLE):
        # when they open a page, then it is served from the session row
        assert client.get(PAGE).status_code == 200


def test_while_redis_is_unreachable_signing_out_fails_whole(agent):
    # given an agent signed in, then Redis unreachable
    with redis_sessions():
        client = signed_in(agent)
        key = client.session.session_key
    with redis_sessions(UNREACHABLE):
        # when they sign out, then it fails before anything is removed
        with pytest.raises(redis.exceptions.ConnectionError):
            client.post(reverse("logout"))
        assert Session.objects.filter(session_key=key).exists()
