"""Check access in a real browser (Debian chromium): on an integration's page, the v2 operations its scopes allow,
grouped by service; an admin pastes the token they handed out and sees what a real resource_demo's registered
``GET /v2/ping`` answered (account, integration, scopes), or the refusal in words; the token is gone from the page
afterwards; a member sees the operations but no form; the panel fits a 390 px screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.ui.conftest import ADMIN, MEMBER, SCREENSHOTS, _seed, sign_in
from tests.support.resource_demo import make_resource_demo
from tests.support.screenshots import DOC_IMAGES
from tests.support.servers import make_authserver

IMAGE = DOC_IMAGES / "check-access.png"
WIDTH = 390


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The shared seeding, on a server allowed to call loopback services, and a real resource_demo (introspection)
    as the seeded contacts-api service, its ping URL registered through the CLI."""
    root = tmp_path_factory.mktemp("authserver-ui-check")
    server = make_authserver(root / "authserver", AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1")
    world = _seed(server)
    server.start()
    client_id, secret = world.resource_service
    demo = make_resource_demo(
        root / "demo", authserver_url=server.url, client_id=client_id, client_secret=secret, mode="introspection"
    )
    try:
        updated = server.cli("client", "update", client_id, "--ping-url", f"{demo.url}/v2/ping", "--json")
        assert updated["ping_url"] == f"{demo.url}/v2/ping"
        demo.start()
        yield world
    finally:
        demo.stop()
        server.stop()


def detail_url(ui, name: str) -> str:
    return f"{ui.integrations_url()}/{ui.seeded[name]['id']}"


def test_an_admin_sees_the_operations_by_service_pastes_a_token_and_sees_the_answer(ui, page):
    seeded = ui.seeded["Data warehouse sync"]  # contacts.readonly, opportunities.readonly
    sign_in(page, ui, ADMIN)
    page.goto(detail_url(ui, "Data warehouse sync"))
    panel = page.locator("section.check-access")
    expect(panel.get_by_role("heading", name="Check access")).to_be_visible()

    # The operations its scopes allow, grouped by service, in the catalogue's order; no write operation.
    groups = panel.locator(".operation-group")
    assert [groups.nth(i).get_attribute("data-service") for i in range(groups.count())] == [
        "contacts",
        "opportunities",
    ]
    contacts = panel.locator(".operation-group[data-service=contacts]")
    expect(contacts.locator("li")).to_have_count(2)
    expect(contacts).to_contain_text("GET /v2/contacts/{id}")
    expect(panel.locator(".operation-group[data-service=opportunities]")).to_contain_text("GET /v2/pipelines")
    expect(panel.locator("#allowed-operations")).not_to_contain_text("POST /v2/")
    expect(panel.locator("#ping-services")).to_contain_text("contacts-api")

    # Paste the token (as copied, with its "Bearer " prefix) and test it.
    panel.get_by_label("Access token").fill(f"Bearer {seeded['token']}")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/check-access")) as posted:
        panel.get_by_role("button", name="Test token").click()
    assert posted.value.status == 200
    result = page.locator("#check-result")
    expect(result).to_have_attribute("data-verdict", "tested")
    expect(page.locator("#check-token-status")).to_have_text("active")
    answer = result.locator(".check-answer")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-outcome", "ok")
    expect(answer).to_contain_text("contacts-api")
    expect(answer).to_contain_text("The service accepts this token.")
    expect(answer.locator("[data-field=account]")).to_have_text(ui.agency)
    expect(answer.locator("[data-field=integration]")).to_have_text(seeded["id"])
    expect(answer.locator("[data-field=scopes]")).to_have_text("contacts.readonly opportunities.readonly")

    # The token is nowhere in the page afterwards: not in the HTML, not left in the form.
    assert seeded["token"] not in page.content()
    assert seeded["token"].rsplit(".", 1)[-1] not in page.content()
    expect(panel.get_by_label("Access token")).to_have_value("")

    # The picture for the docs: the panel with the answer.
    result.scroll_into_view_if_needed()
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(IMAGE))
    assert IMAGE.stat().st_size < 150_000, IMAGE.stat().st_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / IMAGE.name).write_bytes(IMAGE.read_bytes())


def test_a_refused_token_and_bad_input_are_explained_on_the_page(ui, page):
    sign_in(page, ui, ADMIN)
    # The disabled integration's token: the service refuses it, and the page says what invalid_token means.
    page.goto(detail_url(ui, "Support inbox"))
    panel = page.locator("section.check-access")
    panel.get_by_label("Access token").fill(ui.seeded["Support inbox"]["token"])
    panel.get_by_role("button", name="Test token").click()
    answer = page.locator("#check-result .check-answer")
    expect(answer).to_have_attribute("data-outcome", "refused")
    expect(answer).to_have_attribute("data-error", "invalid_token")
    expect(answer).to_contain_text("HTTP 401")
    expect(answer).to_contain_text("The service does not accept this token")
    assert ui.seeded["Support inbox"]["token"] not in page.content()

    # Another integration's token on this page: named so, without which, and no service called.
    panel.get_by_label("Access token").fill(ui.seeded["Data warehouse sync"]["token"])
    panel.get_by_role("button", name="Test token").click()
    expect(page.locator("#check-result")).to_have_attribute("data-verdict", "other_integration")
    expect(page.locator("#check-result")).to_contain_text("This token belongs to another integration")
    expect(page.locator("#check-result")).not_to_contain_text("Data warehouse sync")
    expect(page.locator("#check-result .check-answer")).to_have_count(0)

    # Not a token at all: a readable error on the page (400), not a 500.
    panel.get_by_label("Access token").fill('"not a token"')
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        panel.get_by_role("button", name="Test token").click()
    assert posted.value.status == 400
    expect(page.locator("#check-error")).to_contain_text("That is not an access token")


def test_a_member_sees_the_operations_but_no_form(ui, page):
    sign_in(page, ui, MEMBER)
    page.goto(detail_url(ui, "Data warehouse sync"))
    panel = page.locator("section.check-access")
    expect(panel.locator("#allowed-operations")).to_contain_text("GET /v2/contacts")
    expect(panel.locator("textarea[name=token]")).to_have_count(0)
    expect(panel.get_by_role("button", name="Test token")).to_have_count(0)


def test_the_panel_fits_a_390_px_screen_and_test_token_is_reachable(ui, browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, ui, ADMIN)
        seeded = ui.seeded["Data warehouse sync"]
        for path in (detail_url(ui, "Data warehouse sync"), f"{detail_url(ui, 'Data warehouse sync')}/check-access"):
            page.goto(path)
            panel = page.locator("section.check-access")
            panel.get_by_label("Access token").fill(seeded["token"])
            button = panel.get_by_role("button", name="Test token")
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
            button.click()  # reachable: the click lands and the answer shows
            expect(page.locator("#check-result .check-answer")).to_have_attribute("data-outcome", "ok")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= WIDTH, f"{path} scrolls sideways at {WIDTH} px: {width} px wide"
            wide = page.evaluate(
                """(width) => [...document.querySelectorAll('section.check-access, section.check-access *')]
                     .filter(e => e.getBoundingClientRect().right > width + 0.5)
                     .slice(0, 5)
                     .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""",
                WIDTH,
            )
            assert wide == [], f"the Check access panel reaches past {WIDTH} px: {wide}"
    finally:
        context.close()
