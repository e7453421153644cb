"""What every journey does in the browser: sign in, read the navigation, keep screenshots."""

from pathlib import Path

from django.urls import reverse

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = (1280, 800)


def sign_in(page, username: str) -> None:
    page.goto(reverse("login"))
    page.get_by_label("User name").fill(str(username))
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def nav_entries(page) -> list[str]:
    return [text.strip() for text in page.locator('nav[aria-label="Main"] a').all_inner_texts()]


def screenshot(page, name: str, size: tuple[int, int] = DESKTOP) -> Path:
    """The viewport as a person first sees it, and (`-full`) the whole page for review."""
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    path = SCREENSHOTS / f"{name}-{width}x{height}.png"
    page.screenshot(path=path)
    page.screenshot(path=path.with_stem(f"{path.stem}-full"), full_page=True)
    return path
