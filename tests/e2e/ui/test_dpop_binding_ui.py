"""Binding an integration's tokens to a DPoP key (RFC 9449) in a real browser: a private key pasted into the form
is refused with a readable message, a public JWK binds it, the detail page says "Bound to key", the generated
token carries that binding (introspection: DPoP, cnf), and after the edit form changes the key the live token is
marked "Rotate to apply" until rotated. Also at 390 px wide, and the picture in docs/dpop.md."""

from __future__ import annotations

import json
import shutil

from joserfc.jwk import ECKey, OKPKey
from playwright.sync_api import expect

from tests.support.screenshots import DOC_IMAGES

from .conftest import ADMIN, SCREENSHOTS, sign_in
from .test_suggestions_ui import _fits_390

IMAGE = DOC_IMAGES / "dpop-binding.png"


def _picture(page) -> None:
    """docs/images/dpop-binding.png: the access token card, with the binding and the marked live token."""
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.locator("section[aria-labelledby=token-heading]").screenshot(path=str(IMAGE))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    copy = SCREENSHOTS / IMAGE.name
    if copy.resolve() != IMAGE.resolve():  # the same file unless AUTHSERVER_UPDATE_DOC_IMAGES=1
        shutil.copyfile(IMAGE, copy)


def test_bind_to_a_key_in_the_form_then_change_it_and_see_the_live_token_marked(ui, page, browser):
    key, other = ECKey.generate_key("P-256"), OKPKey.generate_key("Ed25519")
    sign_in(page, ui, ADMIN)
    page.goto(f"{ui.integrations_url()}/new")
    page.get_by_label("Name").fill("Signed webhooks relay")
    page.locator("input[value='contacts.readonly']").check()
    field = page.get_by_label("Bind tokens to a key (DPoP)")

    # A private key is refused, with a message a person can act on, and nothing is created.
    field.fill(json.dumps(key.as_dict(private=True)))
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#dpop_key-error")).to_contain_text("This is a private key (it has d)")
    expect(field).to_have_attribute("aria-invalid", "true")

    # The public JWK binds it; only the thumbprint is kept and shown.
    field.fill(json.dumps(key.as_dict(private=False), indent=2))
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#dpop-binding")).to_contain_text(f"Bound to key {key.thumbprint()}")
    detail = page.url

    page.get_by_role("button", name="Generate access token").click()
    token = page.locator("#token-value").inner_text().strip()
    expect(page.locator("#token-dpop-jkt")).to_have_text(key.thumbprint())
    expect(page.locator("#token-dpop-note")).to_contain_text("Authorization: DPoP")
    answer = ui.introspect(token)
    assert (answer["active"], answer["token_type"], answer["cnf"]) == (True, "DPoP", {"jkt": key.thumbprint()})
    page.goto(detail)
    row = page.locator("#live-tokens tbody tr").first
    expect(row.locator(".token-binding")).to_contain_text(f"Bound to {key.thumbprint()}")
    expect(row.locator(".binding-differs")).to_have_count(0)

    # The edit form shows the current thumbprint; a bad one is refused, another key's thumbprint is saved and the
    # live token, still bound to the first key, is marked until rotated.
    page.goto(detail + "/edit")
    field = page.get_by_label("Bind tokens to a key (DPoP)")
    expect(field).to_have_value(key.thumbprint())
    field.fill("not-a-thumbprint")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#dpop_key-error")).to_contain_text("43 characters of base64url")
    page.get_by_label("Bind tokens to a key (DPoP)").fill(other.thumbprint())
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".alert-success")).to_contain_text("rotate it to apply the new one")
    expect(page.locator("#dpop-binding")).to_contain_text(f"Bound to key {other.thumbprint()}")
    row = page.locator("#live-tokens tbody tr").first
    expect(row.locator(".token-binding")).to_contain_text(f"Bound to {key.thumbprint()}")
    expect(row.locator(".binding-differs")).to_contain_text("Rotate to apply")
    assert ui.introspect(token)["cnf"] == {"jkt": key.thumbprint()}  # a live token keeps its binding
    expect(page.locator("#audit-trail li").first).to_contain_text(f"tokens bound to key {other.thumbprint()}")
    _picture(page)
    assert IMAGE.stat().st_size < 200_000

    # 390 px wide: nothing scrolls sideways; the binding and the mark are on screen.
    narrow = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        small = narrow.new_page()
        sign_in(small, ui, ADMIN)
        small.goto(detail)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px: {width}px wide"
        _fits_390(small, "section[aria-labelledby=token-heading]")
        box = small.locator("#dpop-binding").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        small.goto(detail + "/edit")
        _fits_390(small, "form")
        assert small.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        narrow.close()

    # Rotating applies the new binding; unbinding in the form marks the new token again.
    page.get_by_role("link", name="Rotate now").click()
    page.locator("#confirm-rotate-now").get_by_role("button", name="Rotate now").click()
    rotated = page.locator("#token-value").inner_text().strip()
    assert ui.introspect(rotated)["cnf"] == {"jkt": other.thumbprint()}
    page.goto(detail + "/edit")
    page.get_by_label("Bind tokens to a key (DPoP)").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#dpop-binding")).to_have_count(0)
    expect(page.locator("#live-tokens .binding-differs")).to_have_count(1)
