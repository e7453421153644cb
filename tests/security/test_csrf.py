"""Every POST form carries Django's CSRF token, and a POST without it is refused (403) on every
action the app has; the signed webhooks are exempt by design (their signature authenticates
them: tests/integrations/test_webhooks.py)."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from tests.erp.test_role_matrix import (  # noqa: F401  (fixtures)
    ACCESS,
    OK,
    POST,
    ROLE_OF,
    WHO,
    client_as,
    page_url,
)

# The most-privileged role that opens each page sees the most forms on it.
BY_PRIVILEGE = ("administrator", "operations", "finance", "warehouse", "cs", "no_role", "anonymous")
WEBHOOKS = {name for name in ACCESS if name.startswith("webhook_")}


def opener(url_name: str, wanted) -> str | None:
    row = dict(zip(WHO, ACCESS[url_name], strict=True))
    return next((who for who in BY_PRIVILEGE if row[who] == wanted), None)


class PostForms(HTMLParser):
    """(action, has the token) of every <form method="post">."""

    def __init__(self):
        super().__init__()
        self.forms: list[list] = []
        self._open: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._open = [attrs.get("action") or "", False]
            self.forms.append(self._open)
        elif tag == "input" and self._open and attrs.get("name") == "csrfmiddlewaretoken":
            self._open[1] = bool(attrs.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


@pytest.fixture
def sign_in(make_user):
    def client_for(who: str, **kwargs) -> Client:
        client = Client(**kwargs)
        if who == "no_role":
            client.force_login(make_user(username="csrf-norole"))
        elif who != "anonymous":
            client.force_login(make_user(ROLE_OF[who], username=f"csrf-{who}"))
        return client

    return client_for


def test_every_post_form_on_every_page_carries_the_csrf_token(sign_in, page_url):  # noqa: F811
    clients: dict[str, Client] = {}
    missing, seen = [], 0
    for url_name in ACCESS:
        who = opener(url_name, OK)
        if who is None or url_name.startswith(("api_", "returns_api", "inventory_api")):
            continue
        client = clients.setdefault(who, sign_in(who))
        path = page_url(url_name)
        response = client.get(path)
        assert response.status_code == 200, url_name
        if "html" not in response.get("Content-Type", ""):
            continue
        parser = PostForms()
        parser.feed(response.content.decode())
        seen += len(parser.forms)
        missing += [(url_name, action) for action, token in parser.forms if not token]
    assert missing == []
    assert seen > 20  # the pages really have forms (a log-out form on each, actions on many)


def test_every_action_refuses_a_post_without_the_token(sign_in, page_url):  # noqa: F811
    # Given each action's permitted role, on a client that enforces CSRF as a browser would
    refused, let_through = 0, []
    for url_name in ACCESS:
        who = opener(url_name, POST) or opener(url_name, OK)
        if who is None or url_name in WEBHOOKS:
            continue
        client = sign_in(who, enforce_csrf_checks=True)
        # When they POST without the token, then it is refused before the view runs
        response = client.post(page_url(url_name), {})
        if response.status_code == 403 and b"CSRF" in response.content:
            refused += 1
        else:
            let_through.append((url_name, response.status_code))
    assert let_through == []
    assert refused > 50


def test_the_sign_in_and_log_out_forms_need_the_token(sign_in):
    anonymous = Client(enforce_csrf_checks=True)
    response = anonymous.post(reverse("login"), {"username": "a", "password": "b"})
    assert response.status_code == 403
    signed_in = sign_in("cs", enforce_csrf_checks=True)
    assert signed_in.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in signed_in.session


@pytest.mark.parametrize("url_name", sorted(WEBHOOKS))
def test_webhooks_are_exempt_and_answer_by_signature(db, page_url, url_name):  # noqa: F811
    client = Client(enforce_csrf_checks=True)
    response = client.post(page_url(url_name), b"{}", content_type="application/json")
    # Not a CSRF refusal: the unsigned body is refused by the signature check (401)
    assert response.status_code == 401
    assert urlsplit(page_url(url_name)).path.startswith("/webhooks/")
