"""Settings → API clients in a real browser: a resource service's signed introspection answers (RFC 9701) are shown
and changed through a confirmation dialog, on a desktop and at 390 px, and the change holds on the real server at
its next request."""

from __future__ import annotations

import jwt
import pytest
import requests

from .conftest import ADMIN, screenshot, sign_in

JWT_TYPE = "application/token-introspection+jwt"
WIDTH = 390


def _answer_type(ui, token: str, auth: tuple[str, str]) -> str:
    response = requests.post(f"{ui.url}/oauth/introspect", data={"token": token}, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    if response.headers["Content-Type"] == JWT_TYPE:  # verified with PyJWT against the published JWKS
        text = response.text
        document = requests.get(f"{ui.url}/.well-known/jwks.json", timeout=10).json()
        kid = jwt.get_unverified_header(text)["kid"]
        key = jwt.PyJWK(next(k for k in document["keys"] if k["kid"] == kid))
        claims = jwt.decode(text, key.key, algorithms=[key.algorithm_name], audience=auth[0], issuer=ui.url)
        assert claims["token_introspection"]["active"] is True
    return response.headers["Content-Type"]


@pytest.mark.parametrize("width", [1280, WIDTH])
def test_admin_sets_a_service_to_always_signed_and_back_through_the_dialog(ui, browser, width):
    created = ui.server.cli(
        "client", "create", "--name", f"signed-{width}", "--kind", "resource-service", "--account", ui.agency, "--json"
    )
    service = (created["client_id"], created["client_secret"])
    token = ui.seeded["Data warehouse sync"]["token"]
    assert _answer_type(ui, token, service) == "application/json"

    context = browser.new_context(viewport={"width": width, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, ui, ADMIN)
        page.goto(f"{ui.url}/accounts/{ui.agency}/settings/clients")
        row = page.locator(f'tr[data-client="{service[0]}"]')
        cell = row.locator("[data-signing]")
        assert cell.get_attribute("data-signing") == "when_asked" and "When asked" in cell.inner_text()

        cell.get_by_role("link", name="Change").click()
        dialog = page.locator(f"#confirm-signing-{service[0]}")
        assert dialog.is_visible()
        box = dialog.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5  # inside the screen
        dialog.get_by_label("Always").check()
        if width == WIDTH:
            screenshot(page, "clients-introspection-signing-390px", full_page=False)
        dialog.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/clients")
        cell = page.locator(f'tr[data-client="{service[0]}"] [data-signing]')
        assert cell.get_attribute("data-signing") == "always" and "Always" in cell.inner_text()
        assert "every introspection answer signed" in page.content()
        assert _answer_type(ui, token, service) == JWT_TYPE  # the next request, no Accept header

        cell.get_by_role("link", name="Change").click()
        dialog = page.locator(f"#confirm-signing-{service[0]}")
        dialog.get_by_role("link", name="Cancel").click()  # cancelling changes nothing
        assert _answer_type(ui, token, service) == JWT_TYPE
        page.locator(f'tr[data-client="{service[0]}"] [data-signing]').get_by_role("link", name="Change").click()
        dialog = page.locator(f"#confirm-signing-{service[0]}")
        dialog.get_by_label("When it asks").check()
        dialog.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/clients")
        assert page.locator(f'tr[data-client="{service[0]}"] [data-signing]').get_attribute("data-signing") == (
            "when_asked"
        )
        assert _answer_type(ui, token, service) == "application/json"
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= width, f"the page scrolls sideways at {width}px: {widths}"
        assert errors == []
    finally:
        context.close()
