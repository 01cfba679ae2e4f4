"""Destructive actions ask first, in a real browser: Unsubscribe a webhook, Migrate and Roll back a v1 key open a
confirmation dialog (Cancel changes nothing), with JavaScript and without it (the ?confirm= page)."""

from __future__ import annotations

import json

import requests

from tests.support.forkserver import run_python

from .conftest import ADMIN, PASSWORD, screenshot, sign_in


def _cli(ui, *args: str, **env: str) -> dict:
    done = run_python(["-m", "authserver", *args, "--json"], env={**ui.server.env, **env}, cwd=ui.server.workdir)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _subscribe(ui, path: str) -> str:
    """A subscription to a loopback URL (nothing listens: the dialogs are what is tested, not deliveries)."""
    allow = {"AUTHSERVER_WEBHOOK_ALLOW_HTTP": "on", "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
    return _cli(ui, "webhooks", "subscribe", "--url", f"http://127.0.0.1:9/{path}", "--account", ui.agency, **allow)[
        "id"
    ]


def _active_hooks(ui) -> set[str]:
    return {
        row["id"]
        for row in _cli(ui, "webhooks", "list", "--account", ui.agency)["webhooks"]
        if row["status"] == "active"
    }


def test_unsubscribe_asks_first_and_cancel_keeps_the_subscription(ui, page):
    hook = _subscribe(ui, "crm")
    sign_in(page, ui, ADMIN)
    page.goto(f"{ui.url}/accounts/{ui.agency}/settings/webhooks")
    card = page.locator(f'[data-webhook="{hook}"]')
    dialog = page.locator(f"#confirm-unsubscribe-{hook}")

    card.get_by_role("link", name="Unsubscribe").click()
    assert dialog.is_visible() and "Nothing more will be sent" in dialog.inner_text()
    screenshot(page, "webhook-unsubscribe-confirm", full_page=False)
    dialog.get_by_role("link", name="Cancel").click()
    assert not dialog.is_visible()
    assert hook in _active_hooks(ui)

    card.get_by_role("link", name="Unsubscribe").click()
    dialog.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_url(f"{ui.url}/accounts/{ui.agency}/settings/webhooks")
    assert "Unsubscribed" in page.locator(".alert").inner_text()
    assert hook not in _active_hooks(ui)


def test_migrate_and_roll_back_a_v1_key_ask_first(ui, page):
    created = _cli(ui, "v1-key", "create", "--account", ui.agency, "--name", "Legacy export")
    seen = requests.post(
        f"{ui.url}/oauth/v1-keys/check",
        data={"key": created["key"], "route": "GET /v1/contacts"},
        auth=ui.resource_service,
        timeout=30,
    )
    assert seen.status_code == 200, seen.text
    key = created["id"]
    sign_in(page, ui, ADMIN)
    report = f"{ui.url}/accounts/{ui.agency}/settings/v1-keys"
    page.goto(report)
    card = page.locator(f'[data-v1-key="{key}"]')
    migrate = page.locator(f"#confirm-migrate-{key}")

    card.get_by_role("link", name="Migrate to a private integration").click()
    assert migrate.is_visible() and "Contacts: Read" in migrate.inner_text()
    migrate.get_by_role("link", name="Cancel").click()
    assert not migrate.is_visible()
    assert _cli(ui, "migrate", "report", "--account", ui.agency)["keys"][0]["status"] == "active"

    card.get_by_role("link", name="Migrate to a private integration").click()
    migrate.get_by_label("Keep the v1 key working for").select_option("30d")
    migrate.get_by_role("button", name="Migrate").click()
    token = page.locator("[data-secret]").inner_text().strip()
    assert ui.introspect(token)["active"] is True

    page.goto(report)
    rollback = page.locator(f"#confirm-rollback-{key}")
    card.get_by_role("link", name="Roll back the migration").click()
    assert rollback.is_visible() and "stops working immediately" in rollback.inner_text()
    rollback.get_by_role("link", name="Cancel").click()
    assert ui.introspect(token)["active"] is True

    card.get_by_role("link", name="Roll back the migration").click()
    rollback.get_by_role("button", name="Roll back").click()
    page.wait_for_url(report)
    assert "was rolled back" in page.locator(".alert").inner_text()
    assert ui.introspect(token) == {"active": False}


def test_unsubscribe_confirms_without_javascript(ui, browser):
    hook = _subscribe(ui, "no-js")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto(ui.url + "/signin")
        page.get_by_label("Email").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{ui.url}/accounts/**")
        base = f"{ui.url}/accounts/{ui.agency}/settings/webhooks"
        page.goto(base)
        page.locator(f'[data-webhook="{hook}"]').get_by_role("link", name="Unsubscribe").click()
        page.wait_for_url(f"{base}?confirm=unsubscribe-{hook}")  # the confirmation is a page of its own
        dialog = page.locator(f"#confirm-unsubscribe-{hook}")
        assert dialog.is_visible()
        assert hook in _active_hooks(ui)
        dialog.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_url(base)
        assert hook not in _active_hooks(ui)
    finally:
        context.close()
