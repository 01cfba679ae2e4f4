"""Every admin page at 390 px wide (a phone) in a real browser: no sideways scrolling of the page, every button
inside the screen, and the sidebar collapsed behind a Menu button that reaches every section."""

from __future__ import annotations

import re
import shutil

from authserver import create_app
from tests.support.config import make_app_config
from tests.support.screenshots import DOC_IMAGES

from .conftest import ADMIN, PASSWORD, screenshot, sign_in

WIDTH = 390
DOCS_SCREENSHOT = DOC_IMAGES / "admin-ui-390px.png"
# GET endpoints that are not pages a person reads on a phone: a CSV download.
NOT_PAGES = {"admin_ui.integration_activity_csv"}


def _page_paths(ui) -> dict[str, str]:
    """One address per admin page (endpoint -> path), over the seeded world."""
    agency = f"/accounts/{ui.agency}"
    integration = f"{agency}/settings/integrations/{ui.seeded['Data warehouse sync']['id']}"
    return {
        "admin_ui.index": "/",
        "admin_ui.account_home": agency,
        "admin_ui.account_settings": f"{agency}/settings/account",
        "admin_ui.client_list": f"{agency}/settings/clients",
        "admin_ui.integration_list": f"{agency}/settings/integrations",
        "admin_ui.integration_new": f"{agency}/settings/integrations/new",
        "admin_ui.integration_detail": integration,
        "admin_ui.integration_edit": f"{integration}/edit",
        "admin_ui.integration_check_access": f"{integration}/check-access",
        "admin_ui.v1_key_report": f"{agency}/settings/v1-keys",
        "admin_ui.webhook_list": f"{agency}/settings/webhooks",
        "admin_ui.password": "/settings/password",
        "admin_ui.signin": "/signin",
    }


def _page_endpoints(tmp_path) -> set[str]:
    (tmp_path / "keys").mkdir()
    app = create_app(make_app_config(tmp_path, f"sqlite:///{tmp_path / 'routes.db'}"))
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin_ui.") and "GET" in rule.methods and rule.endpoint not in NOT_PAGES
    }


def _assert_fits(page, what: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    if widths[0] > WIDTH or widths[1] > WIDTH:
        culprits = page.evaluate(
            """(width) => Array.from(document.querySelectorAll('body *'))
                 .filter(el => el.getBoundingClientRect().right > width + 0.5)
                 .slice(-6).map(el => `${el.tagName.toLowerCase()}.${el.className}: ${Math.round(el.getBoundingClientRect().right)}`)""",
            WIDTH,
        )
        raise AssertionError(f"{what} scrolls sideways at {WIDTH}px: {widths}; widest: {culprits}")
    outside = page.evaluate(
        """(width) => Array.from(document.querySelectorAll('main a.button, main button, .topbar button, .topbar summary'))
             .filter(el => el.offsetParent !== null && !el.closest('dialog:not([open])') && !el.closest('.card-table'))
             .map(el => [el.textContent.trim(), el.getBoundingClientRect()])
             .filter(([, box]) => box.width > 0 && (box.right > width + 0.5 || box.left < -0.5))
             .map(([text, box]) => `${text} (${Math.round(box.left)}..${Math.round(box.right)})`)""",
        WIDTH,
    )
    assert outside == [], f"{what}: buttons outside the screen at {WIDTH}px: {outside}"


def _phone(browser, **kwargs):
    context = browser.new_context(viewport={"width": WIDTH, "height": 844}, **kwargs)
    context.set_default_timeout(15_000)
    return context


def test_every_page_fits_390px_and_the_menu_reaches_every_section(ui, browser, tmp_path):
    paths = _page_paths(ui)
    screenshot_path = DOCS_SCREENSHOT.with_suffix(".tmp.png")
    assert _page_endpoints(tmp_path) == set(paths), "a page was added or removed: list it in _page_paths"
    context = _phone(browser)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(ui.url + "/signin")
        _assert_fits(page, "the sign-in page")
        sign_in(page, ui, ADMIN)
        for endpoint, path in paths.items():
            if endpoint == "admin_ui.signin":
                continue
            response = page.goto(ui.url + path)
            assert response is not None and response.status == 200, (endpoint, response and response.status)
            _assert_fits(page, endpoint)

        # Pages with more on them: an open confirmation dialog, another tenant's page (the error page), a POST-only
        # address opened in the browser (the 405 page).
        detail = paths["admin_ui.integration_detail"]
        for extra in (
            f"{detail}?confirm=rotate-later",
            f"{detail}?confirm=delete",
            f"/accounts/{ui.other}/settings/integrations",
            f"{detail}/rotate",
        ):
            page.goto(ui.url + extra)
            _assert_fits(page, extra)

        # The sidebar is collapsed behind the Menu button, which opens it; every section is reachable from it.
        page.goto(ui.url + paths["admin_ui.integration_list"])
        sidenav = page.get_by_role("navigation", name="Settings")
        assert not sidenav.is_visible()
        menu = page.get_by_role("button", name="Menu")
        assert menu.is_visible()
        menu.click()
        assert sidenav.is_visible()
        _assert_fits(page, "the open menu")
        names = [link.inner_text().strip() for link in sidenav.get_by_role("link").all()]
        for section in (
            "Private Integrations",
            "Webhooks",
            "API clients",
            "v1 API keys",
            "Account settings",
            "Password",
        ):
            assert section in names, names
        page.screenshot(path=str(screenshot_path), full_page=False)
        sidenav.get_by_role("link", name="Webhooks").click()
        page.wait_for_url(re.compile(r".*/settings/webhooks$"))
        assert not sidenav.is_visible()  # a new page starts with the menu closed
        assert errors == []
    finally:
        context.close()
    assert screenshot_path.stat().st_size < 150_000
    shutil.move(screenshot_path, DOCS_SCREENSHOT)


def test_the_menu_works_without_javascript(ui, browser):
    context = _phone(browser, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(ui.url + "/signin")
        page.get_by_label("Email").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{ui.url}/accounts/**")
        sidenav = page.get_by_role("navigation", name="Settings")
        assert not sidenav.is_visible()
        page.get_by_text("Menu", exact=True).click()
        assert sidenav.is_visible()
        sidenav.get_by_role("link", name="API clients").click()
        page.wait_for_url(re.compile(r".*/settings/clients$"))
        _assert_fits(page, "the API clients page without JavaScript")
    finally:
        context.close()


def test_wide_screens_keep_the_sidebar(ui, page):
    sign_in(page, ui, ADMIN)
    assert page.get_by_role("navigation", name="Settings").is_visible()
    assert not page.get_by_text("Menu", exact=True).is_visible()
    screenshot(page, "integrations-list-wide")


def test_scope_descriptions_are_shown_in_the_picker_and_on_the_integration_page_at_390px(ui, browser):
    """What each scope allows is visible text (not only a tooltip) under each choice and in the Scopes card, and
    the pages still fit a phone."""
    paths = _page_paths(ui)
    context = _phone(browser)
    try:
        page = context.new_page()
        page.goto(ui.url + "/signin")
        sign_in(page, ui, ADMIN)
        page.goto(ui.url + paths["admin_ui.integration_new"])
        picker = page.locator("fieldset.scope-picker")
        for text in ("View contacts", "Create, edit and delete contacts"):
            described = picker.locator(".scope-desc", has_text=text)
            assert described.is_visible(), text
        _assert_fits(page, "the scope picker with descriptions")
        page.goto(ui.url + paths["admin_ui.integration_detail"])
        card = page.locator("section", has=page.locator("#scopes-heading"))
        descriptions = card.locator(".scope-desc")
        assert descriptions.count() >= 1
        assert descriptions.first.is_visible() and descriptions.first.inner_text().strip()
        _assert_fits(page, "the Scopes card with descriptions")
    finally:
        context.close()
