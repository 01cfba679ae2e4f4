"""Settings → Webhooks in a real browser: an admin subscribes one integration to a data event (contact.created);
without an integration, or with one lacking the read scope, the page says why (400, no 500); the integration choice
lists only this account's integrations; a member sees no form; the form fits a 390 px screen."""

from __future__ import annotations

import pytest

from tests.e2e.ui.conftest import ADMIN, MEMBER, _seed, sign_in
from tests.support.screenshots import DOC_IMAGES
from tests.support.servers import make_authserver

DOCS_IMAGES = DOC_IMAGES
HOOK_URL = "http://127.0.0.1:9/hooks"  # nothing listens: subscribing does not send anything


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The shared seeding, on a server that accepts loopback http webhook URLs."""
    server = make_authserver(
        tmp_path_factory.mktemp("authserver-ui-hooks"),
        AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
        AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
    )
    world = _seed(server)
    server.start()
    try:
        yield world
    finally:
        server.stop()


def webhooks_url(ui) -> str:
    return f"{ui.url}/accounts/{ui.agency}/settings/webhooks"


def test_an_admin_subscribes_an_integration_to_contact_events(ui, page):
    sign_in(page, ui, ADMIN)
    page.goto(webhooks_url(ui))
    choices = page.locator("#integration_id option").all_inner_texts()
    assert any("Data warehouse sync" in text for text in choices)
    assert not any("Not yours" in text for text in choices)  # another account's integration
    hint = page.locator("label", has=page.locator("input[value='contact.created']"))
    assert "contacts.readonly" in hint.inner_text()

    # No integration chosen: refused on the page, naming why.
    page.locator("#url").fill(HOOK_URL)
    page.locator("input[value='contact.created']").check()
    page.get_by_role("button", name="Subscribe").click()
    assert "choose an integration" in page.locator("main").inner_text()

    # The one holding contacts.readonly: subscribed.
    page.locator("#url").fill(HOOK_URL)
    page.locator("#integration_id").select_option(label=next(t for t in choices if "Data warehouse sync" in t))
    if not page.locator("input[value='contact.created']").is_checked():
        page.locator("input[value='contact.created']").check()
    top = page.locator(".field", has=page.locator("#integration_id")).bounding_box()
    bottom = page.locator("fieldset", has=page.locator("input[name=events]")).bounding_box()
    clip = {"x": top["x"], "y": top["y"], "width": top["width"], "height": bottom["y"] + bottom["height"] - top["y"]}
    page.screenshot(path=str(DOCS_IMAGES / "webhooks-data-events.png"), clip=clip, full_page=True, scale="css")
    page.get_by_role("button", name="Subscribe").click()
    card = page.locator("[data-webhook]").filter(has_text="contact.created").first
    assert ui.seeded["Data warehouse sync"]["id"] in card.inner_text()


def test_an_integration_without_the_read_scope_is_refused_on_the_page(ui, page):
    sign_in(page, ui, ADMIN)
    page.goto(webhooks_url(ui))
    page.locator("#url").fill(HOOK_URL)
    options = page.locator("#integration_id option").all_inner_texts()
    assert not any("Support inbox" in text for text in options)  # disabled: not offered
    page.locator("#integration_id").select_option(label=next(t for t in options if "Data warehouse sync" in t))
    page.locator("input[value='calendar.event.created']").check()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Subscribe").click()
    assert posted.value.status == 400
    assert "does not hold calendars.readonly" in page.locator("main").inner_text()


def test_a_member_sees_no_subscribe_form(ui, page):
    sign_in(page, ui, MEMBER)
    page.goto(webhooks_url(ui))
    assert page.locator("#integration_id").count() == 0


def test_the_form_fits_a_390_px_screen(ui, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, ui, ADMIN)
        page.goto(webhooks_url(ui))
        # This change's part of the form: the integration choice, its hint and the data events' scope notes. (The
        # page header's public key and the form's layout are the webhooks page's own 390 px work.)
        wide = page.evaluate(
            "() => [...document.querySelectorAll('[data-integration-choice], [data-integration-choice] ~ .hint, "
            "[data-needs-scope]')]"
            ".filter(e => e.getBoundingClientRect().right > 390 || e.scrollWidth > e.clientWidth + 1)"
            ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert wide == [], f"at 390 px these reach past the screen or scroll: {wide}"
        page.locator("#integration_id").scroll_into_view_if_needed()
        assert page.locator("#integration_id").is_visible()
        page.get_by_role("button", name="Subscribe").scroll_into_view_if_needed()
        assert page.get_by_role("button", name="Subscribe").is_visible()
    finally:
        context.close()
