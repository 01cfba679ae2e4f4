"""The admin API's reference page (/docs/api, the metadata's service_documentation) in Debian's chromium: it reads
without script or other origins (the page fixture fails on a CSP report), its contents links jump to their
sections, and at 390 px the page itself does not scroll sideways (wide tables scroll inside their own box)."""

from __future__ import annotations

import requests

from tests.support.screenshots import DOC_IMAGES

DOCS_IMAGES = DOC_IMAGES


def test_the_metadata_leads_to_a_readable_reference(ui, page):
    metadata = requests.get(f"{ui.url}/.well-known/oauth-authorization-server", timeout=10).json()
    page.goto(metadata["service_documentation"])
    assert page.get_by_role("heading", name="API reference").is_visible()
    page.get_by_role("navigation", name="Contents").get_by_role("link", name="integrations", exact=True).click()
    assert page.url.endswith("#tag-integrations")
    rotate = page.locator("#op-post-api-integrations-integration-id-rotate")
    assert rotate.is_visible()
    assert "Problem" in rotate.inner_text()
    rotate.get_by_role("link", name="Problem").first.click()
    assert page.url.endswith("#schema-Problem")
    assert page.locator("#schema-Problem").get_by_text("detail", exact=True).is_visible()
    page.goto(metadata["service_documentation"])
    page.screenshot(path=str(DOCS_IMAGES / "api-reference.png"))  # the first screenful


def test_the_reference_fits_a_390_px_screen(ui, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{ui.url}/docs/api")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth]")
        assert max(widths) <= 390, f"the page scrolls sideways at 390 px: {widths}"
        wide = page.evaluate(
            "() => [...document.querySelectorAll('main > *, .operation, .schema, h3, p')]"
            ".filter(e => e.getBoundingClientRect().right > 391)"
            ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert wide == [], f"these reach past the screen: {wide}"
        page.locator("#op-post-api-integrations-integration-id-rotate").scroll_into_view_if_needed()
        page.screenshot(path=str(DOCS_IMAGES / "api-reference-390.png"))
    finally:
        context.close()
