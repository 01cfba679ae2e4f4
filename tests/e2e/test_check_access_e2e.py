"""Check access end to end, over real processes on 127.0.0.1: one authorization server and two real resource_demo
services that registered their ``GET /v2/ping`` (one validating by introspection for every account, one validating
locally with the JWKS and the feed, bound to Acme). An Acme admin signs in and pastes tokens into the integration
page's Check access form; the server calls both pings and shows what they answered: the token's account,
integration and scopes; a revoked token's ``invalid_token`` in words; a narrowed token's remaining scopes; and a token
of another account named only as "another integration", sent to no service."""

from __future__ import annotations

import csv
import html
import io
import re
import time

import pytest
import requests

from tests.support.admin_ui import PASSWORD
from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import make_authserver

READ, WRITE = "contacts.readonly", "contacts.write"
EMAIL = "admin@acme.test"


class Browser:
    """A signed-in admin's session, posting forms with the CSRF token its pages carry (as a browser does)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        form = self.session.get(f"{base_url}/signin", timeout=15).text
        signed = self.session.post(
            f"{base_url}/signin",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": _csrf(form)},
            timeout=15,
        )
        assert signed.status_code == 200, signed.text

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=15)

    def check(self, account_id: str, integration_id: str, token: str) -> requests.Response:
        """Paste ``token`` into the integration page's Check access form and press Test token."""
        page = self.get(f"/accounts/{account_id}/settings/integrations/{integration_id}")
        assert page.status_code == 200, page.text
        action = re.search(
            r'<form method="post" action="([^"]+/check-access)[^"]*" class="stack check-form"', page.text
        )
        assert action, "the integration page has no Check access form"
        return self.session.post(
            self.base_url + html.unescape(action.group(1)),
            data={"csrf_token": _csrf(page.text), "token": token},
            timeout=30,
        )


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def panel(page: str) -> str:
    """The Check access card alone (the rest of the page names accounts the admin may see)."""
    start = page.index('<section class="card check-access"')
    return page[start : page.index("</section>", start)]


def answers(card: str) -> dict[str, str]:
    """Each service's answer block, by the service's name."""
    blocks = re.findall(r'<div class="check-answer".*?(?=<div class="check-answer"|\Z)', card, re.S)
    return {re.search(r'<p class="check-service"><strong>([^<]+)</strong>', b).group(1): b for b in blocks}


def field(block: str, name: str) -> str:
    return html.unescape(re.search(rf'data-field="{name}">([^<]*)<', block).group(1))


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.1)


def pinged(demo, token: str) -> requests.Response:
    return requests.get(f"{demo.url}/v2/ping", headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"), AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1")
    server.start()
    demos = []
    try:
        acme, globex, shared, bound, acme_admin, globex_admin = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("account", "create", "--name", "Globex", "--json"),
            ("client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "acme-crm", "--kind", "resource-service", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "globex-admin", "--kind", "admin", "--account", "{1[id]}", "--json"),
        )
        root = tmp_path_factory.mktemp("demos")
        for name, client, mode in (("introspecting", shared, "introspection"), ("local", bound, "local")):
            demo = make_resource_demo(
                root / name,
                authserver_url=server.url,
                client_id=client["client_id"],
                client_secret=client["client_secret"],
                mode=mode,
            )
            demos.append(demo)
        introspecting, local = demos
        # Each service registers its ping URL (as docs/resource-services.md says), before it starts answering.
        registered = cli_batch(
            server,
            ("client", "update", shared["client_id"], "--ping-url", f"{introspecting.url}/v2/ping", "--json"),
            ("client", "update", bound["client_id"], "--ping-url", f"{local.url}/v2/ping", "--json"),
        )
        assert [r["ping_url"] for r in registered] == [f"{introspecting.url}/v2/ping", f"{local.url}/v2/ping"]
        server.cli(
            "user", "create", "--account", acme["id"], "--email", EMAIL, "--role", "admin", "--password-stdin",
            "--json", stdin=PASSWORD + "\n",
        )  # fmt: skip
        for demo in demos:
            demo.start()
        yield {
            "server": server,
            "introspecting": introspecting,
            "local": local,
            "acme": AdminApi(server.url, acme["id"], acme_admin["client_id"], acme_admin["client_secret"]),
            "globex": AdminApi(server.url, globex["id"], globex_admin["client_id"], globex_admin["client_secret"]),
            "browser": Browser(server.url),
        }
    finally:
        for demo in demos:
            demo.stop()
        server.stop()


def test_a_valid_token_is_answered_by_each_registered_service_with_its_account_integration_and_scopes(world):
    acme = world["acme"]
    integration = acme.create_integration("Zapier", [READ, WRITE])
    token = acme.generate_token(integration)

    response = world["browser"].check(acme.account_id, integration, token)

    assert response.status_code == 200, response.text
    card = panel(response.text)
    assert 'data-verdict="tested"' in card
    assert 'id="check-token-status">active<' in card and 'id="check-narrowed"' not in card
    found = answers(card)
    assert set(found) == {"contacts-api", "acme-crm"}  # both registered pings were called, each answered
    for block in found.values():
        assert 'data-outcome="ok"' in block and "200 OK" in block and "The service accepts this token." in block
        assert field(block, "account") == acme.account_id
        assert field(block, "integration") == integration
        assert field(block, "scopes") == f"{READ} {WRITE}"
    assert token not in response.text  # the pasted token is not written back into the page
    assert token not in world["server"].log_path.read_text()  # nor logged


def test_a_revoked_token_shows_invalid_token_and_what_it_means(world):
    acme = world["acme"]
    integration = acme.create_integration("Revoked sync", [READ])
    token = acme.generate_token(integration)
    revoked = requests.post(f"{world['server'].url}/oauth/revoke", data={"token": token}, timeout=15)
    assert revoked.status_code == 200
    for demo in (world["introspecting"], world["local"]):  # the local validator learns it from the feed
        wait_for(lambda demo=demo: pinged(demo, token).status_code == 401)

    response = world["browser"].check(acme.account_id, integration, token)

    assert response.status_code == 200, response.text
    card = panel(response.text)
    assert 'data-verdict="tested"' in card and 'id="check-token-status">revoked<' in card
    found = answers(card)
    assert set(found) == {"contacts-api", "acme-crm"}
    for block in found.values():
        assert 'data-outcome="refused"' in block and 'data-error="invalid_token"' in block and "HTTP 401" in block
        assert "The service does not accept this token: it is revoked, expired" in block
        assert field(block, "error") == "invalid_token"
        assert 'data-field="account"' not in block  # no grant shown for a refused token
    assert token not in response.text


def test_a_narrowed_token_shows_the_scopes_it_still_has_and_those_removed(world):
    acme = world["acme"]
    integration = acme.create_integration("Narrowed sync", [READ, WRITE])
    token = acme.generate_token(integration)
    acme.set_scopes(integration, [READ])
    for demo in (world["introspecting"], world["local"]):
        wait_for(lambda demo=demo: pinged(demo, token).json().get("scopes") == [READ])

    response = world["browser"].check(acme.account_id, integration, token)

    card = panel(response.text)
    assert 'id="check-token-status">active<' in card
    assert re.search(r'id="check-narrowed">([^<]*)<', card).group(1) == WRITE  # removed since it was issued
    for block in answers(card).values():
        assert 'data-outcome="ok"' in block
        assert field(block, "scopes") == READ  # what the services now honour
    # The operations the panel lists follow the integration's scopes: reading only.
    operations = card[card.index('id="allowed-operations"') : card.index("Test a token")]
    assert "GET /v2/contacts" in operations and "POST /v2/contacts" not in operations


def test_a_token_of_another_account_is_named_another_integration_without_saying_which_and_sent_nowhere(world):
    acme, globex = world["acme"], world["globex"]
    integration = acme.create_integration("Ours", [READ])
    acme.generate_token(integration)
    theirs = globex.create_integration("Globex secret project", [READ])
    their_token = globex.generate_token(theirs)
    their_token_id = globex.integration(theirs)["tokens"][0]["token_id"]
    # the services would accept it: a live token, only not of this integration; its one call gets reported
    assert pinged(world["introspecting"], their_token).status_code == 200
    wait_for(lambda: calls(globex, theirs) == {"contacts-api": 1})

    response = world["browser"].check(acme.account_id, integration, their_token)

    assert response.status_code == 200, response.text
    card = panel(response.text)
    assert 'data-verdict="other_integration"' in card
    assert "This token belongs to another integration, not this one. No service was called." in card
    assert 'class="check-answer"' not in card  # no service answer: none was called
    for secret in (theirs, globex.account_id, "Globex", their_token_id, their_token):
        assert secret not in response.text, f"the page leaks {secret!r}"
    # No service saw it: both report their calls every half second, and the count stays at the one call above.
    time.sleep(2)
    assert calls(globex, theirs) == {"contacts-api": 1}


def calls(admin: AdminApi, integration_id: str) -> dict[str, int]:
    """The integration's API calls per service, as the services reported them (the activity CSV)."""
    response = admin.session.get(f"{admin.base_url}/api/integrations/{integration_id}/activity.csv", timeout=15)
    assert response.status_code == 200, response.text
    found: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(response.text)):
        found[row["service"]] = found.get(row["service"], 0) + int(row["calls"])
    return found


def test_the_check_form_is_on_the_integration_page_and_its_own_page(world):
    acme = world["acme"]
    integration = acme.create_integration("Form", [READ])
    browser = world["browser"]
    base = f"/accounts/{acme.account_id}/settings/integrations/{integration}"
    for path in (base, f"{base}/check-access"):
        card = panel(browser.get(path).text)
        assert 'name="token"' in card and 'data-service="contacts"' in card
        assert "contacts-api" in card and "acme-crm" in card  # the services a test would call
