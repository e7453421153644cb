"""The Content Security Policy in a real Chromium: each role signs in and opens its main pages
(every navigation entry, the API docs, the Django admin) and the browser reports no
violation, neither as a `securitypolicyviolation` event nor on the console."""

import pytest
from django.urls import reverse

from erp.roles import Role
from tests.e2e.browser import nav_entries, screenshot, sign_in
from tests.e2e.conftest import browser, shop_data  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Collects every violation the page reports, from the first script on.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""
ROLES = [
    Role.ADMINISTRATOR,
    Role.OPERATIONS_MANAGER,
    Role.FINANCE,
    Role.WAREHOUSE,
    Role.CUSTOMER_SERVICE,
]


def open_and_check(page, path: str, problems: list[str]) -> None:
    if path:
        page.goto(path)
    page.wait_for_load_state("networkidle")
    problems += [f"{page.url}: {violation}" for violation in page.evaluate("window.__csp")]


def test_no_page_of_any_role_violates_the_policy(
    browser,  # noqa: F811
    live_server,
    make_user,
    shop_data,  # noqa: F811
    settings,
):
    problems: list[str] = []
    checked: set[str] = set()
    for role in ROLES:
        make_user(role)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 800}
        )
        page = context.new_page()
        page.add_init_script(LISTEN)
        page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text
                and problems.append(f"console: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

        # The sign-in page and the role's landing page
        page.goto(reverse("login"))
        open_and_check(page, "", problems)
        sign_in(page, role)
        open_and_check(page, "", problems)
        checked.add(page.url)

        # Every entry of the role's navigation not yet opened by a role before it
        links = page.locator('nav[aria-label="Main"] a')
        hrefs = links.evaluate_all("els => els.map(el => el.getAttribute('href'))")
        assert len(hrefs) == len(nav_entries(page))
        for href in hrefs:
            if live_server.url + href not in checked:
                open_and_check(page, href, problems)
                checked.add(live_server.url + href)

        if role == Role.ADMINISTRATOR:
            # The API docs render their operations; the admin renders with its stylesheet
            open_and_check(page, reverse("api_docs"), problems)
            page.locator(".opblock").first.wait_for(timeout=15_000)
            screenshot(page, "security-api-docs")
            open_and_check(page, reverse("admin:index"), problems)
            header = page.locator("#header").evaluate("el => getComputedStyle(el).display")
            assert header != "inline"
            open_and_check(page, reverse("admin:erp_channel_changelist"), problems)

            # Control: the listeners do catch a violation (an inline style attribute); what
            # they report for it is then set aside.
            before = len(problems)
            with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
                page.evaluate(
                    "document.body.insertAdjacentHTML('beforeend', '<b style=\"color:red\">x</b>')"
                )
            page.wait_for_function("window.__csp.length > 0", timeout=5_000)
            assert "style-src" in page.evaluate("window.__csp")[0]
            assert any("style-src" in problem for problem in problems[before:])
            del problems[before:]
        context.close()

    # The sign-in lockout page, under the same policy
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(LISTEN)
    for _ in range(2):
        page.goto(reverse("login"))
        page.get_by_label("User name").fill(str(Role.FINANCE))
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
    assert page.get_by_text("Too many failed sign-in attempts").is_visible()
    open_and_check(page, "", problems)
    screenshot(page, "security-login-lockout")
    context.close()

    assert problems == []
    assert len(checked) >= 12
