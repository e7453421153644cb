"""The Content Security Policy as sent (django-csp, enforced) and the templates and scripts it
relies on: no inline script, style, event handler or javascript: URL anywhere."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from erp.roles import Role

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
def test_every_page_is_sent_the_strict_policy(client, make_user):
    client.force_login(make_user(Role.OPERATIONS_MANAGER))
    response = client.get(reverse("operations_home"))

    assert "Content-Security-Policy-Report-Only" not in response
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_api_docs_load_their_script_as_a_file_and_allow_only_their_own_style(client, make_user):
    client.force_login(make_user(Role.FINANCE))
    response = client.get(reverse("api_docs"))

    assert response.status_code == 200
    html = response.content.decode()
    # The start-up script is a separate request, not inline code
    assert not INLINE[0][0].search(html)
    script = re.search(r'<script src="([^"]+\?[^"]*script=[^"]*)"', html).group(1)
    js = client.get(script.replace("&amp;", "&"))
    assert js.status_code == 200
    assert js["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in js.content.decode()
    # The page's one inline <style> block is allowed by its hash, and nothing else inline
    import base64
    import hashlib

    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = directives(response["Content-Security-Policy"])
    assert policy["style-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]


@pytest.mark.django_db
def test_the_admin_is_sent_the_policy_too(client, make_user):
    client.force_login(make_user(Role.ADMINISTRATOR))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"])["script-src"] == ["'self'"]


def test_templates_have_no_inline_code_or_style():
    found = []
    for directory in TEMPLATE_DIRS:
        for template in directory.rglob("*.html"):
            text = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.S)  # comments
            for pattern, what in INLINE:
                found += [f"{template.relative_to(ROOT)}: {what}" for _ in pattern.findall(text)]
    assert found == []


def test_our_scripts_build_no_inline_code_or_style():
    found = []
    for script in (ROOT / "static" / "js").rglob("*.js"):
        text = script.read_text()
        for pattern, what in (
            (re.compile(r"\beval\s*\(|new Function\s*\("), "eval"),
            (re.compile(r"setAttribute\(\s*['\"](style|on[a-z]+)['\"]"), "inline attribute"),
            (re.compile(r"innerHTML\s*=.*(<script|style=|on[a-z]+=)"), "inline markup"),
        ):
            found += [f"{script.name}: {what}" for _ in pattern.findall(text)]
    assert found == []


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code():
    base = (ROOT / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base
    assert '"allowEval": false' in base
    assert ".htmx-indicator" in (ROOT / "static" / "css" / "app.css").read_text()
