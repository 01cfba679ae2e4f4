"""Check access on an integration's page: operations its scopes allow, and a pasted token tested against the
registered services' ping URLs, never stored, logged or echoed, never sent anywhere else, rate-limited.

The services here are small real HTTP servers on 127.0.0.1 that answer a ping the way resource_demo's /v2/ping and
the authserver_resource kit do (tests/e2e/test_check_access_e2e.py runs the real resource_demo)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import inspect, select, text

from authserver.clients import set_client_ping_url
from authserver.extensions import db
from authserver.principals import OPERATOR
from authserver.service_ping import PER_USER, parse_ping_url
from authserver.unit_of_work import unit_of_work
from tests.factories import issue_token, make_client, make_integration
from tests.http.problems import assert_problem
from tests.support.admin_ui import ADMIN, MEMBER, add_people, detail_path, signed_in


class PingService:
    """A loopback service answering GET /v2/ping: 200 with the grant for tokens it knows, else RFC 6750 401."""

    def __init__(self) -> None:
        self.grants: dict[str, dict] = {}
        self.seen: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                auth = self.headers.get("Authorization", "")
                service.seen.append(auth)
                grant = service.grants.get(auth.removeprefix("Bearer "))
                if grant is None:
                    body = b'{"error": "invalid_token", "error_description": "the access token is invalid"}'
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        'Bearer realm="crm", error="invalid_token", error_description="the access token is invalid"',
                    )
                else:
                    body = json.dumps({"pong": True, **grant}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/ping"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def people(app, world, clock):
    add_people(world, clock)
    app.config["AUTHSERVER_WEBHOOK_ALLOW_HOSTS"] = ["127.0.0.1/32"]  # the operator's allow-list: loopback services
    return world


@pytest.fixture
def crm(people, clock):
    """A service for every account with a ping, and one bound to the other tenant with its own ping."""
    service, elsewhere = PingService(), PingService()
    client_id, _ = make_client(clock, kind="resource-service", name="CRM")
    other_id, _ = make_client(clock, kind="resource-service", account_id=people.other.account_id, name="Other CRM")
    with unit_of_work():
        set_client_ping_url(OPERATOR, client_id, ping_url=service.url, now=clock.now())
        set_client_ping_url(OPERATOR, other_id, ping_url=elsewhere.url, now=clock.now())
    service.client_id, service.elsewhere, service.elsewhere_id = client_id, elsewhere, other_id
    yield service
    service.close()
    elsewhere.close()


def check_path(tenant) -> str:
    return f"{detail_path(tenant)}/check-access"


def grant_of(tenant, scopes=("contacts.readonly",)) -> dict:
    return {"account_id": tenant.account_id, "integration_id": tenant.integration_id, "scopes": list(scopes)}


def test_the_page_shows_operations_its_scopes_allow_grouped_by_service(app, people):
    admin = signed_in(app, ADMIN)
    html = admin.get(detail_path(people.agency)).text
    assert 'id="check-access"' in html and 'data-service="contacts"' in html
    assert "GET /v2/contacts" in html and "POST /v2/contacts" not in html  # readonly only
    assert 'data-service="calendars"' not in html
    assert 'name="token"' in html


def test_a_valid_token_is_sent_only_to_the_registered_pings_and_the_answer_shown(app, people, crm, caplog):
    crm.grants[people.agency.token] = grant_of(people.agency)
    admin = signed_in(app, ADMIN)
    caplog.set_level(logging.DEBUG)
    response = admin.post(check_path(people.agency), {"token": people.agency.token})
    assert response.status_code == 200
    html = response.text
    assert 'data-verdict="tested"' in html and 'data-outcome="ok"' in html
    assert f'data-field="integration">{people.agency.integration_id}<' in html
    assert f'data-field="account">{people.agency.account_id}<' in html and "contacts.readonly" in html
    assert crm.seen == [f"Bearer {people.agency.token}"]
    assert crm.elsewhere.seen == []  # another tenant's service never sees this account's token
    assert people.agency.token not in html  # not echoed back into the page
    assert people.agency.token not in caplog.text
    assert_token_not_stored(app, people.agency.token)


def test_a_refused_token_shows_the_exact_error_and_what_it_means(app, people, crm):
    admin = signed_in(app, ADMIN)  # the service knows no grant for it: 401 invalid_token
    html = admin.post(check_path(people.agency), {"token": people.agency.token}).text
    assert 'data-outcome="refused"' in html and 'data-error="invalid_token"' in html
    assert "The service does not accept this token" in html and "the access token is invalid" in html


def test_a_token_of_another_integration_is_named_so_without_saying_which_and_sent_nowhere(app, people, crm, clock):
    admin = signed_in(app, ADMIN)
    for tenant in (people.sub, people.other):  # a sub-account's (the admin sees it) and another tenant's
        html = panel(admin.post(check_path(people.agency), {"token": tenant.token}).text)
        assert 'data-verdict="other_integration"' in html and "belongs to another integration" in html
        assert tenant.integration_id not in html and tenant.account_id not in html
    sibling = make_integration(clock, people.agency.account_id, name="Sibling")
    issued = issue_token(admin_services(app), clock, sibling.id)
    html = admin.post(check_path(people.agency), {"token": issued.token}).text
    assert "belongs to another integration" in html and sibling.id not in html
    assert crm.seen == [] and crm.elsewhere.seen == []


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        ("", 400, "Paste the access token to test."),
        ("not a token", 400, "that is not an access token".capitalize()),
        ('"abc"', 400, "That is not an access token"),
        ("x" * 9000, 400, "That is not an access token"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", 200, "not an access token issued by this server"),
    ],
)
def test_bad_input_is_explained_on_the_page_and_nothing_is_called(app, people, crm, token, status, text):
    admin = signed_in(app, ADMIN)
    response = admin.post(check_path(people.agency), {"token": token})
    assert response.status_code == status
    assert text in response.text
    assert crm.seen == []


def test_a_service_that_is_not_registered_for_this_account_cannot_be_chosen(app, people, crm):
    admin = signed_in(app, ADMIN)
    response = admin.post(check_path(people.agency), {"token": people.agency.token, "service": crm.elsewhere_id})
    assert response.status_code == 400 and "Choose one of the services listed." in response.text
    assert crm.seen == [] and crm.elsewhere.seen == []


def test_a_service_the_tokens_audience_does_not_name_is_not_called(app, people, crm, clock):
    limited = make_integration(clock, people.agency.account_id, name="Limited", resources=("https://mail.example",))
    issued = issue_token(admin_services(app), clock, limited.id)
    admin = signed_in(app, ADMIN)
    path = f"/accounts/{people.agency.account_id}/settings/integrations/{limited.id}/check-access"
    html = admin.post(path, {"token": issued.token}).text
    assert 'data-outcome="skipped"' in html and "wrong audience" in html
    assert crm.seen == []


def test_members_see_the_operations_but_may_not_test_and_other_tenants_see_nothing(app, people, crm):
    member = signed_in(app, MEMBER)
    page = member.get(detail_path(people.agency)).text
    assert "GET /v2/contacts" in page and 'name="token"' not in page
    assert member.post(check_path(people.agency), {"token": people.agency.token}).status_code == 403
    admin = signed_in(app, ADMIN)
    assert admin.post(check_path(people.other), {"token": people.other.token}).status_code == 404
    assert admin.get(check_path(people.other)).status_code == 404
    assert crm.seen == [] and crm.elsewhere.seen == []


def test_the_form_needs_its_csrf_token(app, people, crm):
    admin = signed_in(app, ADMIN)
    response = admin.client.post(check_path(people.agency), data={"token": people.agency.token})
    assert response.status_code == 403 and crm.seen == []


def test_checks_are_rate_limited_per_user(app, people, crm):
    crm.grants[people.agency.token] = grant_of(people.agency)
    admin = signed_in(app, ADMIN)
    for _ in range(PER_USER.count):
        assert admin.post(check_path(people.agency), {"token": people.agency.token}).status_code == 200
    refused = admin.post(check_path(people.agency), {"token": people.agency.token})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many access checks" in refused.text
    assert len(crm.seen) == PER_USER.count


def test_a_ping_url_on_a_loopback_address_not_allowed_by_the_operator_is_not_called(app, people, crm):
    app.config["AUTHSERVER_WEBHOOK_ALLOW_HOSTS"] = []
    admin = signed_in(app, ADMIN)
    html = admin.post(check_path(people.agency), {"token": people.agency.token}).text
    assert 'data-outcome="failed"' in html and "AUTHSERVER_WEBHOOK_ALLOW_HOSTS" in html
    assert crm.seen == []


# -- registration ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["ftp://crm.example/ping", "http://crm.example/ping", "https://crm.example/ping#x", "/v2/ping", "https://u:p@x/"],
)
def test_a_ping_url_must_be_https_or_loopback_http(url):
    with pytest.raises(Exception, match="ping_url must be an absolute https URL"):
        parse_ping_url(url)


def test_the_admin_api_sets_and_clears_a_ping_url_for_its_own_services_only(client, people, clock):
    own, _ = make_client(clock, kind="resource-service", account_id=people.agency.account_id, name="Own")
    path = f"/api/clients/{own}"
    response = client.patch(path, json={"ping_url": "https://crm.example/v2/ping"}, headers=people.agency.admin_headers)
    assert response.status_code == 200 and response.get_json()["ping_url"] == "https://crm.example/v2/ping"
    assert_problem(
        client.patch(path, json={"ping_url": "http://crm.example/"}, headers=people.agency.admin_headers), 400
    )
    assert_problem(client.patch(path, json={"name": "x"}, headers=people.agency.admin_headers), 400)
    assert_problem(client.patch(path, json={"ping_url": 5}, headers=people.agency.admin_headers), 400)
    assert_problem(client.patch(path, json={"ping_url": None}, headers=people.other.admin_headers), 404)
    cleared = client.patch(path, json={"ping_url": None}, headers=people.agency.admin_headers)
    assert cleared.status_code == 200 and cleared.get_json()["ping_url"] is None
    admin_client = people.agency.admin_client[0]
    assert_problem(
        client.patch(
            f"/api/clients/{admin_client}", json={"ping_url": "https://x.example/"}, headers=people.agency.admin_headers
        ),
        400,
    )


def test_the_cli_registers_a_ping_url_and_refuses_a_bad_one_in_one_line(runner, people, clock):
    created = runner.invoke(
        args=[
            "client",
            "create",
            "--name",
            "Pinged",
            "--kind",
            "resource-service",
            "--ping-url",
            "http://127.0.0.1:5100/v2/ping",
            "--json",
        ]
    )
    assert created.exit_code == 0, created.output
    client_id = json.loads(created.output)["client_id"]
    assert json.loads(created.output)["ping_url"] == "http://127.0.0.1:5100/v2/ping"
    bad = runner.invoke(args=["client", "update", client_id, "--ping-url", "http://crm.example/ping"])
    assert bad.exit_code != 0 and len(bad.output.strip().splitlines()) == 1 and "ping_url" in bad.output
    cleared = runner.invoke(args=["client", "update", client_id, "--ping-url", "none", "--json"])
    assert cleared.exit_code == 0 and json.loads(cleared.output)["ping_url"] is None


# -- helpers ----------------------------------------------------------------------------------------------------
def panel(html: str) -> str:
    """The Check access card alone (the account switcher names every account the user may see)."""
    start = html.index('<section class="card check-access"')
    return html[start : html.index("</section>", start)]


def admin_services(app):
    return app.extensions["authserver"]


def assert_token_not_stored(app, token: str) -> None:
    """Every text column of every table, searched for the token (and its signature, the part that is secret)."""
    signature = token.rsplit(".", 1)[-1]
    with app.app_context():
        inspector = inspect(db.engine)
        for table in inspector.get_table_names():
            rows = db.session.execute(select(text("*")).select_from(text(table))).all()
            for row in rows:
                dumped = " ".join(str(value) for value in row)
                assert token not in dumped and signature not in dumped, f"the token is in {table}"
