"""Least-privilege suggestions in a real browser: an integration 31 days old whose calls (reported by the resource
service) only ever needed contacts.readonly is told opportunities.readonly was never used; Remove (after its
confirmation) narrows the live token at once, as introspection shows. Also at 390 px wide."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import requests
from playwright.sync_api import expect

from tests.support.screenshots import DOC_IMAGES

from .conftest import ADMIN, SCREENSHOTS, sign_in

DAY = 86400
IMAGE = DOC_IMAGES / "least-privilege-suggestions.png"


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def _report(ui, token: str, scopes: dict[str, int]) -> None:
    use = {"jti": _jti(token), "count": sum(scopes.values()), "scopes": scopes}
    response = requests.post(f"{ui.url}/oauth/usage", json={"uses": [use]}, auth=ui.resource_service, timeout=30)
    assert response.status_code == 202 and response.json() == {"accepted": 1}, response.text


_WIDEST = """[s, ...s.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > 391
  && !e.closest('.card-table table')).slice(0, 5)
  .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def _picture(page, selectors: list[str]) -> None:
    """docs/images/least-privilege-suggestions.png: the calls chart and the suggestions card, wherever the page
    puts them."""
    boxes = [
        page.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left, r.top + window.scrollY, r.right, r.bottom + window.scrollY]; })()"
        )
        for selector in selectors
    ]
    left, top = min(b[0] for b in boxes) - 12, min(b[1] for b in boxes) - 12
    right, bottom = max(b[2] for b in boxes) + 12, max(b[3] for b in boxes) + 12
    clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGE), full_page=True, clip=clip)
    copy = screenshot_dir() / IMAGE.name
    if copy.resolve() != IMAGE.resolve():  # the same file unless AUTHSERVER_UPDATE_DOC_IMAGES=1
        shutil.copyfile(IMAGE, copy)


def _fits_390(page, selector: str) -> None:
    """Nothing inside ``selector`` reaches past 390 px (a wide table scrolls inside its own card instead)."""
    wide = page.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})].flatMap(s => {_WIDEST})")
    assert wide == [], f"{selector} is wider than 390 px: {wide}"


def test_remove_an_unused_scope_in_one_click_and_the_live_token_loses_it(ui, page, browser):
    seeded = ui.seeded["Data warehouse sync"]  # contacts.readonly and opportunities.readonly, made just now
    detail = f"{ui.integrations_url()}/{seeded['id']}"
    _report(ui, seeded["token"], {"contacts.readonly": 7, "": 1})

    # Brand new: no advice yet, however the calls look.
    sign_in(page, ui, ADMIN)
    page.goto(detail)
    card = page.locator("#suggestions")
    expect(card).to_have_attribute("data-status", "too_new")
    expect(card).to_contain_text("younger than 30 days")

    # 31 days later, still only contacts.readonly in use.
    ui.server.set_clock_offset(31 * DAY)
    _report(ui, seeded["token"], {"contacts.readonly": 5})
    page.goto(detail)
    if page.url.endswith("/signin") or "/signin" in page.url:  # the session may have aged out with the clock
        sign_in(page, ui, ADMIN)
        page.goto(detail)
    expect(card).to_have_attribute("data-status", "ready")
    item = card.locator(".suggestion[data-scope='opportunities.readonly']")
    expect(item).to_contain_text("opportunities.readonly was never used in 30 days")
    expect(item).to_contain_text("View opportunities and pipelines")
    expect(card.locator(".suggestion[data-scope='contacts.readonly']")).to_have_count(0)
    expect(page.locator("#usage-total")).to_have_text("5")  # the calls of the last 30 days
    expect(page.locator("#usage-by-service tbody tr")).to_have_count(1)
    _picture(page, ["section[aria-labelledby=usage-heading]", "#suggestions"])
    assert IMAGE.stat().st_size < 200_000

    # 390 px wide: nothing scrolls sideways and Remove is on screen, reachable.
    narrow = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        small = narrow.new_page()
        sign_in(small, ui, ADMIN)
        small.goto(detail)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px: {width}px wide"
        for block in (
            "#suggestions",
            "section[aria-labelledby=usage-heading]",
            "section[aria-labelledby=activity-heading]",
        ):
            _fits_390(small, block)
        remove = small.locator(".suggestion[data-scope='opportunities.readonly']").get_by_role("link", name="Remove")
        remove.scroll_into_view_if_needed()
        box = remove.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        remove.click()
        dialog = small.locator("#confirm-remove-opportunities-readonly")
        expect(dialog).to_be_visible()
        dialog_box = dialog.bounding_box()
        assert dialog_box is not None and dialog_box["x"] + dialog_box["width"] <= 390, dialog_box
        dialog.get_by_role("link", name="Cancel").click()
        expect(dialog).to_be_hidden()
    finally:
        narrow.close()

    # Remove: a confirmation that says what breaks, then the live token loses the scope at once.
    assert ui.introspect(seeded["token"])["scope"] == "contacts.readonly opportunities.readonly"
    item.get_by_role("link", name="Remove").click()
    dialog = page.locator("#confirm-remove-opportunities-readonly")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".consequence")).to_contain_text("any call that needs it is refused")
    dialog.get_by_role("button", name="Remove opportunities.readonly").click()
    expect(page.locator(".alert-success")).to_contain_text("Removed opportunities.readonly.")
    answer = ui.introspect(seeded["token"])
    assert answer["active"] is True and answer["scope"] == "contacts.readonly"
    expect(page.locator("#suggestions .suggestion")).to_have_count(0)
    expect(page.locator("#suggestions")).to_contain_text("Every scope it holds was used")
    assert Path(IMAGE).exists()
