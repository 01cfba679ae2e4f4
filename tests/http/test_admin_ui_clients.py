"""Settings → API clients in the admin UI: what admins and members see, and each change behind a confirmation."""

from __future__ import annotations

import re

import pytest

from authserver.clients import set_client_limit
from authserver.extensions import db
from authserver.models import ApiClient
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, make_client
from tests.support.admin_ui import ADMIN, MEMBER, add_people, signed_in


@pytest.fixture
def people(app, world, clock):
    add_people(world, clock)
    return world


@pytest.fixture
def agency_service(people, clock):
    return make_client(clock, kind="resource-service", account_id=people.agency.account_id, name="Agency <service>")


def page_path(world) -> str:
    return f"/accounts/{world.agency.account_id}/settings/clients"


def introspect(client, world, auth):
    return client.post("/oauth/introspect", data={"token": world.agency.token}, headers=basic(*auth))


def test_the_page_lists_the_accounts_clients_with_last_used_and_is_linked_from_settings(
    app, people, agency_service, services
):
    admin = signed_in(app, ADMIN)
    introspect(admin.client, people, agency_service)
    services.oauth.client_uses.flush(app)
    html = admin.get(page_path(people)).text
    settings = admin.get(f"/accounts/{people.agency.account_id}/settings/integrations").text
    assert f'href="{page_path(people)}"' in settings
    assert f'data-client="{agency_service[0]}"' in html and f'data-client="{people.agency.admin_client[0]}"' in html
    assert "Agency &lt;service&gt;" in html and "Agency <service>" not in html
    assert people.other.admin_client[0] not in html and people.resource_service[0] not in html
    assert "just now" in html and "Never" in html  # the service was used; the admin client never was
    assert agency_service[1] not in html


def test_rotating_shows_the_new_secret_once_and_the_old_one_works_until_the_overlap_ends(
    app, people, agency_service, clock
):
    admin = signed_in(app, ADMIN)
    dialog = admin.get(f"{page_path(people)}?confirm=rotate&client={agency_service[0]}").text
    assert re.search(rf'id="confirm-rotate-{agency_service[0]}"[^>]*\sopen', dialog)
    response = admin.post(f"{page_path(people)}/{agency_service[0]}/rotate-secret", {"overlap": "1h"})
    assert response.status_code == 200
    secret = re.search(r'data-secret tabindex="0">([^<]+)</pre>', response.text).group(1)
    assert introspect(admin.client, people, (agency_service[0], secret)).status_code == 200
    assert introspect(admin.client, people, agency_service).status_code == 200
    clock.advance(3601)
    assert introspect(admin.client, people, agency_service).status_code == 401
    assert secret not in admin.get(page_path(people)).text


def test_disable_enable_and_delete_from_the_page(app, people, agency_service):
    admin = signed_in(app, ADMIN)
    assert admin.post(f"{page_path(people)}/{agency_service[0]}/disable").status_code == 302
    assert introspect(admin.client, people, agency_service).status_code == 401
    assert "Disabled" in admin.get(page_path(people)).text
    assert admin.post(f"{page_path(people)}/{agency_service[0]}/enable").status_code == 302
    assert introspect(admin.client, people, agency_service).status_code == 200
    assert admin.post(f"{page_path(people)}/{agency_service[0]}/delete").status_code == 302
    assert introspect(admin.client, people, agency_service).status_code == 401
    assert f'data-client="{agency_service[0]}"' not in admin.get(page_path(people)).text


def test_a_change_without_the_pages_csrf_token_is_refused(app, people, agency_service):
    admin = signed_in(app, ADMIN)
    response = admin.client.post(f"{page_path(people)}/{agency_service[0]}/disable", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert db.session.get(ApiClient, agency_service[0]).disabled_at is None


def test_members_see_the_clients_but_no_actions_and_cannot_change_them(app, people, agency_service):
    member = signed_in(app, MEMBER)
    html = member.get(f"{page_path(people)}?confirm=delete&client={agency_service[0]}").text
    assert f'data-client="{agency_service[0]}"' in html and "Rotate secret" not in html and "<dialog" not in html
    for action in ("disable", "delete", "rotate-secret"):
        assert member.post(f"{page_path(people)}/{agency_service[0]}/{action}").status_code == 403
    assert db.session.get(ApiClient, agency_service[0]).disabled_at is None


@pytest.mark.parametrize("path", ["/cli_doesnotexist/disable", "/{other}/disable", "/{service}/explode"])
def test_unknown_or_foreign_clients_and_actions_are_not_found(app, people, agency_service, path):
    admin = signed_in(app, ADMIN)
    path = path.format(other=people.other.admin_client[0], service=agency_service[0])
    assert admin.post(f"{page_path(people)}{path}").status_code == 404
    assert db.session.get(ApiClient, people.other.admin_client[0]).disabled_at is None


def test_a_bad_overlap_is_a_readable_400(app, people, agency_service):
    admin = signed_in(app, ADMIN)
    response = admin.post(f"{page_path(people)}/{agency_service[0]}/rotate-secret", {"overlap": "forever"})
    assert response.status_code == 400 and "Traceback" not in response.text
    assert introspect(admin.client, people, agency_service).status_code == 200


def test_the_page_shows_each_services_own_introspection_limit_or_the_default(app, people, agency_service, clock):
    with app.app_context(), unit_of_work():
        set_client_limit(OPERATOR, agency_service[0], introspection="600/1m", default=None, now=clock.now())
    other = make_client(clock, kind="resource-service", account_id=people.agency.account_id, name="other service")
    html = signed_in(app, MEMBER).get(page_path(people)).text
    limits = dict(
        re.findall(r'<tr data-client="([^"]+)">.*?<td class="small nowrap" data-limit>(.*?)</td>', html, re.S)
    )
    assert limits[agency_service[0]] == "600/1m"
    assert "default (" in limits[other[0]]
