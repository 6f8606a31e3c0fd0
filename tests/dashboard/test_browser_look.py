"""The page's look in Debian's Chromium: light and dark as the Airflow UI's own switch sets them (or the
system's preference when the page is opened alone), readable contrast, labels, the keyboard, and the
trend charts. The light and dark screenshots of the docs are taken here (build/screenshots/)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import REPO
from tests.dashboard.browser import VIEWPORT, dashboard_frame, logged_in, switch_ui_colour_mode
from tests.dashboard.conftest import DAG_ID, PREFIX, DashboardStack

SCREENSHOTS = REPO / "build" / "screenshots"
# the UI theme's background tokens: Chakra's "bg" is white in light mode and the theme's "black" in dark
UI_BACKGROUND = {"light": "#ffffff", "dark": "oklch(0.23185 0.0323 266.44)"}
# any CSS colour (the UI's theme is in oklch) as [r, g, b, a], 0-255, as the browser paints it
RGB = """const rgb = (colour) => {
    const context = Object.assign(document.createElement("canvas"), { width: 1, height: 1 }).getContext("2d");
    context.fillStyle = colour;
    context.fillRect(0, 0, 1, 1);
    return [...context.getImageData(0, 0, 1, 1).data];
  };"""

# WCAG 2 contrast of each element's text against the background it is drawn on
CONTRASTS = (
    """() => {
  """
    + RGB
    + """
  const luminance = ([r, g, b]) => {
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor);
  };
  // a badge of every status, drawn where the page draws them (not every status is on the page)
  const cell = document.querySelector("#days tbody td");
  const statuses = ["completed", "failed", "running", "pending", "not_exported"];
  for (const status of statuses) {
    const probe = document.createElement("span");
    probe.className = `status ${status} contrast-probe`;
    probe.textContent = status;
    cell.append(probe);
  }
  const probes = statuses.map((status) => `.status.${status}.contrast-probe`);
  const selectors = ["body", "#summary", "h2", "table.grid th", "table.grid td.num", ...probes, "button.link",
                     ".chart-summary", "label", "button.primary", ".chart .axis", ".literal.message-id", "#refreshed"];
  return selectors.map((selector) => {
    const element = document.querySelector(selector);
    if (!element) return [selector, null];
    const [fg, bg] = [luminance(rgb(getComputedStyle(element).color)), luminance(background(element))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    return [selector, Math.round(ratio * 100) / 100];
  });
}"""
)


@pytest.fixture(scope="module")
def admin_tab(browser: Any, dashboard_stack: DashboardStack) -> Iterator[Any]:
    with logged_in(browser, dashboard_stack, "admin", color_scheme="light") as page:
        yield page


def _mode_of(frame: Any) -> tuple[str, list[int]]:
    """The page's mode and its background as painted."""
    mode, background = frame.evaluate(
        "() => { "
        + RGB
        + " return [document.documentElement.dataset.theme, rgb(getComputedStyle(document.body).backgroundColor)]; }"
    )
    return mode, background


def _ui_background(page: Any) -> list[int]:
    """The Airflow UI's own background as painted (its main content area's, found from the page's frame)."""
    return page.evaluate(
        "() => { "
        + RGB
        + """
        for (let node = document.querySelector('iframe'); node; node = node.parentElement) {
          const colour = rgb(getComputedStyle(node).backgroundColor);
          if (colour[3] > 0) return colour;
        }
        return rgb(getComputedStyle(document.body).backgroundColor); }"""
    )


def _screenshot(page: Any, frame: Any, mode: str) -> None:
    """The UI with the dashboard, tall enough to show the trends, a day and the first days."""
    frame.wait_for_selector("#chart-archived a.day-point")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"dashboard-{mode}.png"
    page.set_viewport_size({"width": 1500, "height": 1900})
    try:
        page.wait_for_timeout(300)  # the frame lays out again at the new size
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 20_000


def test_the_page_follows_the_uis_colour_mode_switch(admin_tab: Any, dashboard_stack: DashboardStack) -> None:
    ledger = dashboard_stack.ledger
    frame = dashboard_frame(admin_tab, f"{dashboard_stack.base_url}/dags/{DAG_ID}/plugin/message-export-dag")
    frame.locator(f'#days tr[data-day="{ledger.hostile_day}"] .day-link').click()
    frame.wait_for_selector("#failures tbody tr")
    assert _mode_of(frame) == ("light", _ui_background(admin_tab))
    _screenshot(admin_tab, frame, "light")

    switch_ui_colour_mode(admin_tab, "Dark Mode")
    frame.wait_for_function("() => document.documentElement.dataset.theme === 'dark'", timeout=10_000)
    assert _mode_of(frame) == ("dark", _ui_background(admin_tab))
    assert admin_tab.evaluate("() => document.documentElement.classList.contains('dark')")  # the UI itself
    _screenshot(admin_tab, frame, "dark")

    # a page opened after the switch starts in the chosen mode
    frame = dashboard_frame(admin_tab, f"{dashboard_stack.base_url}/plugin/message-export")
    assert _mode_of(frame) == ("dark", _ui_background(admin_tab))

    switch_ui_colour_mode(admin_tab, "Light Mode")
    frame.wait_for_function("() => document.documentElement.dataset.theme === 'light'", timeout=10_000)
    assert _mode_of(frame) == ("light", _ui_background(admin_tab))

    # "Follow System Setting": the system turns dark, the UI and the page with it
    switch_ui_colour_mode(admin_tab, "Follow System Setting")
    admin_tab.emulate_media(color_scheme="dark")
    try:
        frame.wait_for_function("() => document.documentElement.dataset.theme === 'dark'", timeout=10_000)
    finally:
        admin_tab.emulate_media(color_scheme="light")
    frame.wait_for_function("() => document.documentElement.dataset.theme === 'light'", timeout=10_000)


@pytest.mark.parametrize("system", ["light", "dark"])
def test_opened_alone_the_page_follows_the_systems_preference(
    browser: Any, dashboard_stack: DashboardStack, system: str
) -> None:
    with logged_in(browser, dashboard_stack, "viewer", color_scheme=system) as page:
        page.goto(f"{dashboard_stack.base_url}{PREFIX}/")
        page.wait_for_selector("#days tbody tr", timeout=60_000)
        painted = page.evaluate("colour => { " + RGB + " return rgb(colour); }", UI_BACKGROUND[system])
        assert _mode_of(page) == (system, painted)


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_text_is_readable_and_every_control_is_labelled(
    browser: Any, dashboard_stack: DashboardStack, mode: str
) -> None:
    with logged_in(browser, dashboard_stack, "admin", color_scheme=mode) as page:
        page.goto(f"{dashboard_stack.base_url}{PREFIX}/?day={dashboard_stack.ledger.hostile_day}")
        for drawn in ("#failures tbody tr", "#days tbody tr", "#chart-archived a.day-point"):
            page.wait_for_selector(drawn, timeout=60_000)
        assert _mode_of(page)[0] == mode
        ratios = dict(page.evaluate(CONTRASTS))
        assert all(ratio is not None for ratio in ratios.values()), ratios
        # WCAG AA for normal text (4.5:1), kept for the small axis labels and badges too
        assert {selector: ratio for selector, ratio in ratios.items() if ratio < 4.5} == {}, ratios
        unlabelled = page.evaluate(
            "() => [...document.querySelectorAll('input, select, textarea')]"
            ".filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML)"
        )
        assert unlabelled == []
        nameless = page.evaluate(
            "() => [...document.querySelectorAll('button, a')]"
            ".filter((e) => !(e.textContent.trim() || e.getAttribute('aria-label'))).map((e) => e.outerHTML)"
        )
        assert nameless == []


def test_trends_show_a_point_per_day_that_opens_it_by_mouse_or_keyboard(
    admin_tab: Any, dashboard_stack: DashboardStack
) -> None:
    ledger = dashboard_stack.ledger
    trends = dashboard_stack.client().json("get", f"{PREFIX}/api/trends", params={"days": 30})
    admin_tab.goto(f"{dashboard_stack.base_url}{PREFIX}/")
    admin_tab.wait_for_selector("#chart-archived a.day-point", timeout=60_000)
    drawn = admin_tab.locator("#chart-archived a.day-point").evaluate_all(
        "links => links.map((a) => [a.dataset.day, a.dataset.value])"
    )
    expected = [[p["day"], "" if p["archived"] is None else str(p["archived"])] for p in trends["points"]]
    assert drawn == expected
    failed = admin_tab.locator(f'#chart-failed a.day-point[data-day="{ledger.hostile_day}"]')
    assert failed.get_attribute("data-value") == "5"
    assert "not exported" in admin_tab.locator("#chart-archived a.day-point").first.get_attribute("aria-label")

    # a click on a day's bar opens the day
    settled = ledger.shape.first_day + timedelta(days=1)
    admin_tab.locator(f'#chart-archived a.day-point[data-day="{settled}"]').click()
    admin_tab.wait_for_function(
        "want => document.querySelector('#day-title')?.textContent === want", arg=f"Day {settled}"
    )

    # the keyboard: the chart is one Tab stop on its newest day; the arrows move, Enter opens
    newest = admin_tab.locator('#chart-failed a.day-point[tabindex="0"]')
    assert newest.get_attribute("data-day") == str(ledger.hostile_day)
    newest.focus()
    admin_tab.keyboard.press("ArrowLeft")
    admin_tab.keyboard.press("ArrowLeft")
    admin_tab.keyboard.press("Enter")
    two_before = ledger.hostile_day - timedelta(days=2)
    admin_tab.wait_for_function(
        "want => document.querySelector('#day-title')?.textContent === want", arg=f"Day {two_before}"
    )

    # another range, by keyboard on the range's radio buttons; the choice is kept in the page's address
    admin_tab.locator("input[name=trend-days][value='30']").focus()
    admin_tab.keyboard.press("ArrowRight")
    admin_tab.wait_for_function("() => document.querySelector('.charts').dataset.days === '90'")
    assert "trend=90" in admin_tab.url
