"""Settings → API clients in a real browser: find a client, rotate its secret and disable it, each through its
confirmation dialog, and see each change hold at once on the real server."""

from __future__ import annotations

import requests

from .conftest import ADMIN, screenshot, sign_in


def introspect_status(ui, token: str, auth: tuple[str, str]) -> int:
    return requests.post(f"{ui.url}/oauth/introspect", data={"token": token}, auth=auth, timeout=30).status_code


def test_admin_rotates_a_secret_and_disables_a_client_through_confirmation_dialogs(ui, page):
    created = ui.server.cli(
        "client", "create", "--name", "billing-api", "--kind", "resource-service", "--account", ui.agency, "--json"
    )
    service = (created["client_id"], created["client_secret"])
    token = ui.seeded["Data warehouse sync"]["token"]
    assert introspect_status(ui, token, service) == 200

    sign_in(page, ui, ADMIN)
    page.get_by_role("link", name="API clients").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/clients")
    row = page.locator(f'tr[data-client="{service[0]}"]')
    assert "billing-api" in row.inner_text()

    row.get_by_role("link", name="Rotate secret").click()
    dialog = page.locator(f"#confirm-rotate-{service[0]}")
    dialog.get_by_label("Stop the old secret now").check()
    dialog.get_by_role("button", name="Rotate secret").click()
    new_secret = page.locator("[data-secret]").inner_text().strip()
    screenshot(page, "clients-secret-rotated")
    assert introspect_status(ui, token, service) == 401
    assert introspect_status(ui, token, (service[0], new_secret)) == 200

    page.locator(f'tr[data-client="{service[0]}"]').get_by_role("link", name="Disable").click()
    page.locator(f"#confirm-disable-{service[0]}").get_by_role("button", name="Disable").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/clients")
    assert "Disabled" in page.locator(f'tr[data-client="{service[0]}"]').inner_text()
    assert introspect_status(ui, token, (service[0], new_secret)) == 401
    assert new_secret not in page.content()
