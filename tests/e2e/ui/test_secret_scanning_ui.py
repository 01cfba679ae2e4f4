"""A leaked token in a real browser (chromium) against a real server: after a signed scanner alert, the integration
page lists the token as Revoked under "Previous tokens" and its audit trail says "Leak reported: <url>"; a member
sees the same; at 390 px the trail line wraps inside the screen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.secret_scanner import ALERT_PATH, KeyServer, ScannerKey, alert_body, key_document
from tests.support.servers import make_authserver

from .conftest import ADMIN, MEMBER, _seed, screenshot, sign_in

SCANNER_KEY = ScannerKey()
LEAK_URL = "https://github.com/northwind/warehouse-sync/blob/8c1e0f3b9a7d2e4f6a8b0c1d2e3f4a5b6c7d8e9f/deploy/settings/production.env"


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The UI world of conftest, on a server that takes scanner alerts, with one token reported leaked."""
    with KeyServer(key_document(SCANNER_KEY)) as keys:
        server = make_authserver(tmp_path_factory.mktemp("leak-ui"), AUTHSERVER_SECRET_SCANNING_KEYS_URL=keys.url)
        with ThreadPoolExecutor(max_workers=1) as pool:
            seeding = pool.submit(_seed, server)
            try:
                server.start()
                world = seeding.result()
            except BaseException:
                server.stop()
                raise
        try:
            token = world.seeded["Data warehouse sync"]["token"]
            body = alert_body(token, url=LEAK_URL, source="commit")
            answer = requests.post(
                f"{server.url}{ALERT_PATH}", data=body, headers=SCANNER_KEY.headers(body), timeout=10
            )
            assert answer.json()[0]["label"] == "true_positive"
            yield world
        finally:
            server.stop()


def detail_url(ui) -> str:
    return f"{ui.integrations_url()}/{ui.seeded['Data warehouse sync']['id']}"


@pytest.mark.parametrize("email", [ADMIN, MEMBER])
def test_the_integration_page_shows_the_leaked_token_revoked_and_where_it_leaked(ui, page, email):
    assert ui.introspect(ui.seeded["Data warehouse sync"]["token"]) == {"active": False}
    sign_in(page, ui, email)
    page.goto(detail_url(ui))
    previous = page.locator("#previous-tokens tbody tr")
    assert previous.count() == 1
    assert previous.first.get_attribute("data-status") == "revoked"
    assert "Revoked" in previous.first.inner_text()
    trail = page.locator("#audit-trail li").filter(has_text="Leak reported")
    assert trail.count() == 1
    line = trail.first.inner_text()
    assert "Token found in public by a secret scanner" in line
    assert f"Leak reported: {LEAK_URL}" in line and "revoked at once" in line
    assert "secret scanner" in line
    assert ui.seeded["Data warehouse sync"]["token"] not in page.content()
    if email == ADMIN:
        screenshot(page, "secret-scanning-leak-reported")


def test_the_leak_line_fits_a_390_px_screen(ui, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, ui, ADMIN)
        page.goto(detail_url(ui))
        line = page.locator("#audit-trail li").filter(has_text="Leak reported")
        line.scroll_into_view_if_needed()
        assert line.is_visible()
        wide = page.evaluate(
            "() => [...document.querySelectorAll('#audit-trail, #audit-trail *, #previous-tokens')]"
            ".filter(e => e.getBoundingClientRect().right > 390)"
            ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert wide == [], f"at 390 px these reach past the screen: {wide}"
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        line.screenshot(path=str(screenshot(page, "secret-scanning-390").with_name("secret-scanning-line-390.png")))
    finally:
        context.close()
