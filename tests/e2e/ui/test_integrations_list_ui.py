"""The integrations list in a real browser against a real server: expiry badges ("if unused", grace), the status
filter and search in the query string (shareable), an empty result that says so, and the page at 390 px wide."""

from __future__ import annotations

import re

import pytest

from tests.support.screenshots import DOC_IMAGES

from .conftest import ADMIN, screenshot, sign_in

DOCS_IMAGES = DOC_IMAGES


@pytest.fixture(scope="module")
def extra(ui):
    """Two more of the agency's integrations: one idle-sensitive (3-day window), one rotated with a 2-day grace."""
    idle, _, rotated, _, _ = ui.server.cli_batch(
        [
            "integration",
            "create",
            "--account",
            ui.agency,
            "--name",
            "Nightly export",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "3d",
            "--json",
        ],
        ["token", "generate", "{0[id]}", "--json"],
        [
            "integration",
            "create",
            "--account",
            ui.agency,
            "--name",
            "Helpdesk bot",
            "--scope",
            "conversations.write",
            "--inactivity-window",
            "never",
            "--json",
        ],
        ["token", "generate", "{2[id]}", "--json"],
        ["token", "rotate", "{2[id]}", "--grace", "2d", "--json"],
    )
    return {"idle": idle["id"], "rotated": rotated["id"]}


def names(page) -> list[str]:
    return [text.strip() for text in page.locator("tbody .row-title").all_inner_texts()]


def test_badges_filter_and_search_in_the_browser(ui, extra, page):
    sign_in(page, ui, ADMIN)
    page.goto(ui.integrations_url())
    idle_row = page.locator(f'tr[data-integration="{extra["idle"]}"]')
    assert re.search(r"Expires in [23] days if unused", idle_row.inner_text())
    rotated_row = page.locator(f'tr[data-integration="{extra["rotated"]}"]')
    assert "Rotating" in rotated_row.inner_text() and re.search(r"Grace ends in [12] day", rotated_row.inner_text())
    assert "Send messages and manage conversations" in rotated_row.inner_text()  # what the scope allows
    assert "within 7 days" in page.locator("#expiring-note").inner_text()
    screenshot(page, "integrations-list")
    page.screenshot(path=str(DOCS_IMAGES / "integrations-list-filters.png"), full_page=True)

    page.get_by_label("Status").select_option("expiring_soon")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"status=expiring_soon"))
    assert sorted(names(page)) == ["Helpdesk bot", "Nightly export"]

    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill("WAREHOUSE")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=WAREHOUSE"))
    assert names(page) == ["Data warehouse sync"]
    shared = page.url  # the same view from a link
    page.goto(ui.integrations_url())
    page.goto(shared)
    assert names(page) == ["Data warehouse sync"]

    page.get_by_label("Status").select_option("disabled")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"status=disabled"))
    assert names(page) == [] and "No integrations match" in page.locator("#no-matches").inner_text()
    page.get_by_role("link", name="Clear").click()
    assert "Support inbox" in names(page) and "Not yours" not in names(page)  # never another tenant's

    page.goto(ui.integrations_url() + "?status=everything")
    assert "Status must be one of" in page.locator("#filter-error").inner_text()


def test_the_list_fits_a_390_px_screen(ui, extra, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, ui, ADMIN)
        page.goto(ui.integrations_url())
        wide = page.evaluate(
            "() => [document.querySelector('main'), ...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > 390 || e.scrollWidth > e.clientWidth + 1 && "
            "getComputedStyle(e).overflowX !== 'visible')"
            ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert wide == [], f"at 390 px these reach past the screen or scroll: {wide}"
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        for control in (
            page.get_by_label("Search"),
            page.get_by_label("Status"),
            page.get_by_role("button", name="Apply"),
        ):
            box = control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.get_by_label("Status").select_option("rotating")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"status=rotating"))
        assert names(page) == ["Helpdesk bot"]
        page.screenshot(path=str(DOCS_IMAGES / "integrations-list-filters-390.png"))
    finally:
        context.close()
