"""The admin UI in a real browser (headless Debian chromium) against a real ``authserver run`` process."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from .conftest import ADMIN, MEMBER, screenshot, sign_in


def _token_on_page(page) -> str:
    token = page.locator("#token-value").inner_text().strip()
    assert token.count(".") == 2, "the page should show a JWT"
    return token


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%d %b %Y, %H:%M UTC")


def _wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_admin_creates_an_integration_generates_copies_rotates_and_expires_its_token(ui, page):
    assert ui.introspect(ui.seeded["Data warehouse sync"]["token"])["active"] is True  # activity for the list
    page.goto(ui.url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))
    screenshot(page, "01-sign-in")
    sign_in(page, ui, ADMIN)
    expect(page.get_by_role("heading", name="Private Integrations")).to_be_visible()

    # The account switcher offers the agency and its sub-account, and nothing else; each page follows the choice.
    page.locator(".switcher summary").click()
    items = page.locator(".switcher .menu-item")
    expect(items).to_have_text([re.compile("Northwind Agency"), re.compile("Bakery on Main")])
    screenshot(page, "02-account-switcher", full_page=False)
    items.get_by_text("Bakery on Main").click()
    expect(page.locator(".switcher-name")).to_have_text("Bakery on Main")
    expect(page.get_by_text("No private integrations yet")).to_be_visible()
    page.locator(".switcher summary").click()
    items.get_by_text("Northwind Agency").click()
    expect(page.locator("tr[data-integration]")).to_have_count(2)

    # Create: validation messages appear next to the fields, then the integration is created.
    page.get_by_role("link", name="Create new integration").click()
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#name-error")).to_have_text("Name is required.")
    page.get_by_label("Name").fill("Zapier")
    page.get_by_label("Description").fill("Adds new leads from web forms")
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#scopes-error")).to_have_text("At least one scope is required.")
    page.locator("input[value='contacts.readonly']").check()
    page.locator("input[value='calendars.write']").check()
    screenshot(page, "03-create-integration")
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator(".alert-success")).to_contain_text("Created Zapier.")

    # Generate: the token is shown once, copied with the button, and active with exactly the chosen scopes.
    page.get_by_role("button", name="Generate access token").click()
    expect(page.get_by_text("This token will not be shown again.")).to_be_visible()
    first = _token_on_page(page)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == first
    screenshot(page, "04-token-shown-once")
    body = ui.introspect(first)
    assert body["active"] is True and body["scope"] == "calendars.write contacts.readonly"

    # Leaving the page hides the token for good: going back does not bring it back.
    page.get_by_role("link", name="Done, I have copied it").click()
    expect(page.locator("#live-tokens tbody tr")).to_have_count(1)
    detail = page.url
    try:
        page.go_back()
    except PlaywrightError:  # Chromium will not silently re-post the form (ERR_CACHE_MISS): that is the point
        pass
    expect(page.locator("body")).not_to_contain_text(first[-40:])
    page.goto(detail)

    # Rotate and expire later: the dialog names the moment the old token stops, for the chosen grace period.
    page.get_by_role("link", name="Rotate and expire later").click()
    dialog = page.locator("#confirm-rotate-later")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".consequence")).to_contain_text("The current token keeps working until")
    day_later = dialog.locator("input[value='24h']").get_attribute("data-until")
    dialog.get_by_text("24 hours").click()
    expect(dialog.locator("[data-until-text]")).to_have_text(day_later)
    screenshot(page, "05-rotate-later-dialog", full_page=False)
    dialog.get_by_role("button", name="Rotate token").click()
    second = _token_on_page(page)
    promised = _moment(day_later)
    kept = _moment(page.locator(".consequence strong").inner_text())
    assert timedelta(0) <= kept - promised <= timedelta(minutes=2)  # the dialog showed it to the minute
    assert ui.introspect(first)["active"] is True and ui.introspect(second)["active"] is True

    # Two live tokens: the new one and the old one in its grace period; their use shows up as activity.
    page.get_by_role("link", name="Done, I have copied it").click()
    expect(page.locator("#live-tokens tbody tr")).to_have_count(2)
    expect(page.locator("#live-tokens [data-status='active'] td > .badge")).to_have_text("Active")
    expect(page.locator("#live-tokens [data-status='grace'] td > .badge")).to_have_text("Grace period")
    for _ in range(3):
        ui.introspect(second)
    uses = 6  # first: twice, second: four times; as calls the service reports (each answered by an introspection)
    report = [
        {"jti": _jti(first), "count": 2, "introspected": 2, "scopes": {"contacts.readonly": 2}},
        {"jti": _jti(second), "count": 4, "introspected": 4, "scopes": {"calendars.write": 4}},
    ]
    reported = requests.post(f"{ui.url}/oauth/usage", json={"uses": report}, auth=ui.resource_service, timeout=30)
    assert reported.status_code == 202, reported.text

    def activity_shown() -> bool:  # uses are counted in memory and written every half second
        page.reload()
        return page.locator("#usage-total").inner_text() == str(uses)

    assert _wait_until(activity_shown), "the token's uses should show as activity within a few seconds"
    expect(page.locator("#last-used-by")).to_have_text("contacts-api")
    expect(page.locator("#usage-chart rect.bar").last).to_have_attribute("data-count", str(uses))
    screenshot(page, "06-integration-two-live-tokens")

    # Expire now: both tokens stop at once and introspection rejects them.
    page.locator(".card-actions").get_by_role("link", name="Expire now").click()
    dialog = page.locator("#confirm-expire-now")
    expect(dialog.locator(".consequence")).to_contain_text("Both live tokens will stop working immediately.")
    dialog.get_by_role("button", name="Expire now").click()
    expect(page.locator(".alert-success")).to_have_text("2 tokens stopped working just now.")
    assert page.url == detail
    assert ui.introspect(first) == {"active": False}
    assert ui.introspect(second) == {"active": False}
    expect(page.locator("#live-tokens")).to_have_count(0)

    page.get_by_role("link", name="Private Integrations").first.click()
    expect(page.locator("tr[data-integration]")).to_have_count(3)
    screenshot(page, "07-integrations-list")


def test_a_member_sees_everything_but_can_change_nothing(ui, page):
    sign_in(page, ui, MEMBER)
    expect(page.get_by_role("link", name="Support inbox")).to_be_visible()
    expect(page.get_by_text("Only its admins can change them")).to_be_visible()
    expect(page.get_by_role("link", name="Create new integration")).to_have_count(0)
    page.get_by_role("link", name="Data warehouse sync").click()
    expect(page.locator("#live-tokens tbody tr")).to_have_count(1)
    expect(page.locator("main .button")).to_have_count(0)
    expect(page.locator("main form")).to_have_count(0)
    screenshot(page, "08-member-view-only")

    # Even a hand-made POST with the member's own valid CSRF token is refused by the server.
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    integration = ui.seeded["Data warehouse sync"]
    for action in ("disable", "expire", "delete"):
        response = page.request.post(f"{page.url}/{action}", form={"csrf_token": csrf, "mode": "now"})
        assert response.status == 403, action
        assert "members may view this account but not change it" in response.text()
    assert ui.introspect(integration["token"])["active"] is True


class _AttackerSite(BaseHTTPRequestHandler):
    """A page on another site with a form aimed at our server (it cannot know the CSRF token)."""

    target = ""

    def do_GET(self):  # noqa: N802 - the http.server API
        body = (
            f'<!doctype html><form method="post" action="{self.target}">'
            '<input type="hidden" name="mode" value="now"><button>Win a prize</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def attacker_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"  # "localhost" is another site than "127.0.0.1"
    server.shutdown()
    server.server_close()


def test_a_forged_cross_site_form_post_is_refused(ui, page, attacker_site):
    sign_in(page, ui, ADMIN)
    integration = ui.seeded["Data warehouse sync"]
    target = f"{ui.integrations_url()}/{integration['id']}/expire"
    _AttackerSite.target = target
    page.goto(attacker_site)
    with page.expect_response(target) as refused:
        page.get_by_role("button", name="Win a prize").click()
    assert refused.value.status == 403
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    assert ui.introspect(integration["token"])["active"] is True


def test_script_in_a_name_is_shown_as_text(ui, page):
    name = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    sign_in(page, ui, ADMIN)
    page.goto(ui.integrations_url() + "/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill("<b>bold?</b>")
    page.locator("input[value='users.readonly']").check()
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#integration-name")).to_have_text(name)
    expect(page.locator("#integration-description")).to_have_text("<b>bold?</b>")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("#confirm-delete h2")).to_have_text(f"Delete {name}?")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Private Integrations").first.click()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    assert page.evaluate("window.__pwned") is None


def test_signing_out_ends_the_session_so_a_copied_cookie_no_longer_works(ui, browser, page):
    sign_in(page, ui, ADMIN)
    copied = page.context.cookies()
    page.locator(".user-menu summary").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    thief = browser.new_context()
    try:
        thief.add_cookies(copied)
        stolen = thief.new_page()
        stolen.goto(ui.integrations_url())
        expect(stolen).to_have_url(re.compile(r"/signin\?next="))
    finally:
        thief.close()
