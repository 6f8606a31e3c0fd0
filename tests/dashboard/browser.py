"""Driving the dashboard in Debian's Chromium (through Playwright) as a user of the real Airflow UI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.dashboard.conftest import USERS, DashboardStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1500, "height": 1100}


def login(browser: Any, stack: DashboardStack, username: str, **context_options: Any) -> Any:
    """A new tab, in a browser context of its own, logged in to the Airflow UI through its login form."""
    context = browser.new_context(viewport=VIEWPORT, **context_options)
    page = context.new_page()
    page.goto(f"{stack.base_url}/auth/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", USERS[username][0])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
    return page


@contextmanager
def logged_in(browser: Any, stack: DashboardStack, username: str, **context_options: Any) -> Iterator[Any]:
    """A tab logged in as ``username`` for the ``with`` block; its browser context is closed after it."""
    page = login(browser, stack, username, **context_options)
    try:
        yield page
    finally:
        page.context.close()


def dashboard_frame(page: Any, url: str) -> Any:
    """Open ``url`` (a page of the UI that shows the dashboard) and return the dashboard's frame, loaded."""
    page.goto(url)
    frame = page.wait_for_selector("iframe", timeout=60_000).content_frame()
    frame.wait_for_selector("#days tbody tr", timeout=60_000)
    return frame


def switch_ui_colour_mode(page: Any, mode: str) -> None:
    """Use the UI's own switch: User menu → Appearance → ``Light Mode`` / ``Dark Mode`` / ``Follow System Setting``."""
    page.get_by_role("button", name="User").click()
    page.get_by_role("menuitem", name="Appearance").click()
    page.get_by_role("menuitemradio", name=mode, exact=True).click()
    page.keyboard.press("Escape")
