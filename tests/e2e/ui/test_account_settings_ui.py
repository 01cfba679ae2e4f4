"""Settings → Account settings in a real browser against a real server: the agency admin narrows a sub-account's
scopes through the confirmation (the live token narrows at once), sets the agency's windows (the integration form
then names the default's value), changes an integration's window after creation, and the page fits 390 px."""

from __future__ import annotations

from tests.support.screenshots import DOC_IMAGES

from .conftest import ADMIN, MEMBER, screenshot, sign_in

DOCS_IMAGES = DOC_IMAGES


def test_agency_admin_narrows_a_sub_accounts_scopes_and_the_live_token_narrows_at_once(ui, page):
    created = ui.server.cli(
        "integration",
        "create",
        "--account",
        ui.sub,
        "--name",
        "Bakery orders sync",
        "--scope",
        "contacts.readonly",
        "--scope",
        "calendars.readonly",
        "--json",
    )
    token = ui.server.cli("token", "generate", created["id"], "--json")["token"]
    assert set(ui.introspect(token)["scope"].split()) == {"contacts.readonly", "calendars.readonly"}

    sign_in(page, ui, ADMIN)
    page.get_by_role("link", name="Account settings").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/account")
    subs = page.locator("[data-sub-accounts]")
    subs.get_by_role("link", name="Edit Bakery on Main").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.sub}/settings/account")
    assert page.locator('[data-value="scopes"]').inner_text() == "All scopes"

    page.locator('input[name=scopes][value="calendars.readonly"]').uncheck()
    page.get_by_role("button", name="Save settings").click()
    warning = page.locator("[data-confirm-narrowing]")
    assert "Bakery orders sync loses calendars.readonly" in warning.inner_text()
    assert "calendars.readonly" in ui.introspect(token)["scope"]  # nothing happened before confirming
    page.get_by_role("button", name="Confirm and narrow").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.sub}/settings/account")
    assert "Saved the settings of Bakery on Main" in page.locator("main").inner_text()
    assert ui.introspect(token)["scope"] == "contacts.readonly"
    assert page.locator('input[name=scopes][value="calendars.readonly"]').is_checked() is False


def test_agency_windows_show_on_the_integration_form_and_a_window_is_edited_later(ui, page):
    sign_in(page, ui, ADMIN)
    page.goto(f"{ui.url}/accounts/{ui.agency}/settings/account")
    page.get_by_label("Default inactivity window").fill("30d")
    page.get_by_label("Maximum inactivity window").fill("180d")
    page.get_by_label("Maximum token lifetime").fill("365d")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("button", name="Confirm and narrow").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/account")
    values = page.locator("[data-account-values]").inner_text()
    assert "30 days" in values and "180 days" in values and "365 days" in values
    screenshot(page, "account-settings")
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMAGES / "account-settings.png"), full_page=True)

    page.goto(ui.integrations_url() + "/new")
    window = page.get_by_label("Expire the token if it goes unused for")
    assert window.locator("option:checked").inner_text() == "Account default (30 days)"
    assert window.locator('option[value="365d"]').count() == 0  # above the 180-day maximum

    integration = ui.seeded["Data warehouse sync"]["id"]
    page.goto(f"{ui.integrations_url()}/{integration}/edit")
    form = page.locator("[data-window-form]")
    form.get_by_label("Expire the token if it goes unused for").select_option("30d")
    form.get_by_role("button", name="Save window").click()
    page.wait_for_url(f"{ui.integrations_url()}/{integration}")
    assert "expires after 30 days without use" in page.locator("main").inner_text()
    shown = ui.server.cli("integration", "list", "--account", ui.agency, "--json")["integrations"]
    assert next(row for row in shown if row["id"] == integration)["inactivity_window"] == 30 * 86400


def test_members_only_view_and_other_tenants_are_not_found(ui, page):
    sign_in(page, ui, MEMBER)
    page.goto(f"{ui.url}/accounts/{ui.agency}/settings/account")
    assert page.locator("[data-account-form]").count() == 0
    assert "its admins change them" in page.locator("main").inner_text()
    response = page.goto(f"{ui.url}/accounts/{ui.other}/settings/account")
    assert response.status == 404
    assert "Unrelated Co" not in page.content()


def test_the_page_fits_a_390_px_screen(ui, browser):
    """The page's own content fits: nothing in <main> reaches past 390 px, so it does not scroll sideways. (The top
    bar's menus are the shared layout's, and the integration pages' scope table is the shared macro's: the global
    390 px work, not this page.)"""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, ui, ADMIN)
        for path in (f"/accounts/{ui.agency}/settings/account", f"/accounts/{ui.sub}/settings/account"):
            page.goto(ui.url + path)
            wide = page.evaluate(
                "() => [document.querySelector('main'), ...document.querySelectorAll('main *')]"
                ".filter(e => e.getBoundingClientRect().right > 390 || e.scrollWidth > e.clientWidth + 1 && "
                "getComputedStyle(e).overflowX !== 'visible')"
                ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
            )
            assert wide == [], f"{path}: at 390 px these reach past the screen or scroll: {wide}"
            assert page.get_by_role("button", name="Save settings").is_visible()
        page.goto(f"{ui.url}/accounts/{ui.agency}/settings/account")
        page.screenshot(path=str(DOCS_IMAGES / "account-settings-390.png"))  # the first screenful
    finally:
        context.close()
