"""Issue 3 end to end: every token lifecycle action as an admin performs it through the JSON admin API of a real
authserver process, judged by what a resource service sees at introspection. Includes the conflict case (real
concurrent requests), cross-account attempts, and a SIGKILL right after a rotation."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from functools import partial

import jwt
import pytest
import requests

from .conftest import instant

CONTACTS, CALENDARS = "contacts.readonly", "calendars.readonly"


# -- helpers --------------------------------------------------------------------------------------------
def setup_integration(admin, **body) -> tuple[str, dict]:
    """A new integration of ``admin``'s account with its first token."""
    integration = admin.create_integration(**body)
    return integration["id"], admin.generate(integration["id"])


def rotate(admin, integration_id: str, if_match: str | None = None, **body) -> requests.Response:
    headers = {"If-Match": if_match} if if_match is not None else {}
    return admin.post(f"/integrations/{integration_id}/rotate", json=body, headers=headers)


def rotated(admin, integration_id: str, **body) -> dict:
    response = rotate(admin, integration_id, **body)
    assert response.status_code == 201, response.text
    return response.json()


def expire(admin, integration_id: str, **body) -> requests.Response:
    response = admin.post(f"/integrations/{integration_id}/expire", json=body)
    assert response.status_code == 200, response.text
    return response


def live_tokens(admin, integration_id: str) -> dict[str, str]:
    """token_id -> status ("active" or "grace") of the integration's live tokens, as the API reports them."""
    response = admin.integration(integration_id)
    assert response.status_code == 200, response.text
    return {token["token_id"]: token["status"] for token in response.json()["tokens"]}


def all_tokens(admin, integration_id: str) -> dict[str, dict]:
    response = admin.get(f"/integrations/{integration_id}/tokens")
    assert response.status_code == 200, response.text
    return {token["token_id"]: token for token in response.json()["tokens"]}


def assert_problem(response: requests.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert all(word in body["detail"] for word in words), body["detail"]
    return body


def actions(admin, integration_id: str) -> list[str]:
    return [event["action"] for event in reversed(admin.audit(target_id=integration_id))]


# -- generate ----------------------------------------------------------------------------------------------
def test_generate_issues_a_token_shown_once_that_introspects_active(world):
    integration = world.agency.create_integration()
    response = world.agency.post(f"/integrations/{integration['id']}/tokens", json={"expires_in": "30d"})

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert world.introspect(token["token"])["jti"] == token["token_id"]
    assert instant(token["expires_at"]) - instant(token["issued_at"]) == timedelta(days=30)
    assert "token" not in all_tokens(world.agency, integration["id"])[token["token_id"]]


def test_generate_while_a_token_is_live_is_409_and_says_to_rotate(world):
    integration_id, first = setup_integration(world.agency)

    response = world.agency.post(f"/integrations/{integration_id}/tokens")

    assert_problem(response, 409, "already has a live token", "rotate")
    assert list(live_tokens(world.agency, integration_id)) == [first["token_id"]]


def test_rotate_without_a_live_token_is_409_and_says_to_generate(world):
    integration = world.agency.create_integration()
    assert_problem(rotate(world.agency, integration["id"], mode="now"), 409, "generate")


# -- rotate now / rotate with grace ----------------------------------------------------------------------------
def test_rotate_now_stops_the_old_token_at_once_and_the_new_one_works(world):
    integration_id, old = setup_integration(world.agency)

    new = rotated(world.agency, integration_id, mode="now")

    assert world.introspect(old["token"]) == {"active": False}
    assert world.introspect(new["token"])["jti"] == new["token_id"]
    assert live_tokens(world.agency, integration_id) == {new["token_id"]: "active"}
    assert all_tokens(world.agency, integration_id)[old["token_id"]]["replaced_by"] == new["token_id"]
    [event] = world.agency.audit(action="token.rotated", target_id=integration_id)
    assert event["actor"] == {"type": "admin_client", "id": world.agency.client_id}
    assert event["source_address"] == "127.0.0.1"
    assert event["before"]["tokens"] == [old["token_id"]]
    assert event["after"]["token"]["token_id"] == new["token_id"]


def test_rotate_with_grace_keeps_the_old_token_until_the_deadline_to_the_second(world, server_clock):
    integration_id, old = setup_integration(world.agency)

    new = rotated(world.agency, integration_id, mode="later", grace="1h")

    assert live_tokens(world.agency, integration_id) == {new["token_id"]: "active", old["token_id"]: "grace"}
    deadline = instant(all_tokens(world.agency, integration_id)[old["token_id"]]["ends_at"])
    assert deadline - instant(new["issued_at"]) == timedelta(hours=1)
    assert world.introspect(old["token"])["exp"] == int(deadline.timestamp())  # caches never outlive the grace

    def both():
        return world.is_active(old["token"]), world.is_active(new["token"])

    assert server_clock.call_at(deadline - timedelta(seconds=1), both) == (True, True)
    assert server_clock.call_at(deadline, both) == (False, True)
    assert live_tokens(world.agency, integration_id) == {new["token_id"]: "active"}


def test_rotate_with_grace_until_an_exact_time(world, server_clock):
    integration_id, old = setup_integration(world.agency)
    until = instant(old["issued_at"]) + timedelta(days=2, minutes=7)

    new = rotated(world.agency, integration_id, mode="later", grace_until=until.isoformat())

    assert instant(all_tokens(world.agency, integration_id)[old["token_id"]]["ends_at"]) == until
    assert server_clock.call_at(until - timedelta(seconds=1), lambda: world.is_active(old["token"]))
    assert not server_clock.call_at(until, lambda: world.is_active(old["token"]))
    assert world.is_active(new["token"])


@pytest.mark.parametrize("grace", ["59m", "31d"])
def test_grace_outside_one_hour_to_thirty_days_is_refused(world, grace):
    integration_id, old = setup_integration(world.agency)
    assert_problem(rotate(world.agency, integration_id, mode="later", grace=grace), 400, "grace")
    assert live_tokens(world.agency, integration_id) == {old["token_id"]: "active"}


def test_rotating_again_during_grace_ends_the_older_grace_token_at_once(world):
    integration_id, first = setup_integration(world.agency)
    second = rotated(world.agency, integration_id, mode="later", grace="7d")

    third = rotated(world.agency, integration_id, mode="later", grace="7d")

    assert world.introspect(first["token"]) == {"active": False}
    assert world.is_active(second["token"]) and world.is_active(third["token"])
    assert live_tokens(world.agency, integration_id) == {third["token_id"]: "active", second["token_id"]: "grace"}


def test_grace_token_can_be_expired_early(world):
    integration_id, old = setup_integration(world.agency)
    new = rotated(world.agency, integration_id, mode="later", grace="7d")

    expire(world.agency, integration_id, token_id=old["token_id"])

    assert world.introspect(old["token"]) == {"active": False}
    assert world.is_active(new["token"])
    assert live_tokens(world.agency, integration_id) == {new["token_id"]: "active"}


def test_after_the_new_token_is_expired_during_grace_the_grace_token_rotates_on(world):
    integration_id, old = setup_integration(world.agency)
    leaked = rotated(world.agency, integration_id, mode="later", grace="7d")
    expire(world.agency, integration_id, token_id=leaked["token_id"])
    assert_problem(world.agency.post(f"/integrations/{integration_id}/tokens"), 409, "rotate")
    assert_problem(world.agency.post(f"/integrations/{integration_id}/expire", json={"in": "2h"}), 409, "rotate")

    replacement = rotated(world.agency, integration_id, mode="later", grace="1d")

    assert world.is_active(old["token"]) and world.is_active(replacement["token"])
    assert not world.is_active(leaked["token"])
    assert live_tokens(world.agency, integration_id) == {replacement["token_id"]: "active", old["token_id"]: "grace"}
    ends_at = instant(all_tokens(world.agency, integration_id)[old["token_id"]]["ends_at"])
    assert ends_at == instant(replacement["issued_at"]) + timedelta(days=1)  # the earlier of the two deadlines


# -- expire now / expire later ----------------------------------------------------------------------------
def test_expire_now_stops_every_live_token_and_the_integration_can_generate_again(world):
    integration_id, old = setup_integration(world.agency)
    new = rotated(world.agency, integration_id, mode="later", grace="7d")

    expire(world.agency, integration_id)

    assert not world.is_active(old["token"]) and not world.is_active(new["token"])
    assert live_tokens(world.agency, integration_id) == {}
    again = world.agency.generate(integration_id)
    assert world.is_active(again["token"])
    assert not world.is_active(new["token"])  # an expired token never comes back


@pytest.mark.parametrize("when", ["in", "at"])
def test_expire_later_ends_the_current_token_at_the_chosen_second(world, server_clock, when):
    integration_id, token = setup_integration(world.agency)
    chosen = instant(token["issued_at"]) + timedelta(hours=2)
    body = {"in": "2h"} if when == "in" else {"at": chosen.isoformat()}

    expire(world.agency, integration_id, **body)

    ends_at = instant(all_tokens(world.agency, integration_id)[token["token_id"]]["ends_at"])
    assert ends_at - chosen < timedelta(seconds=5)
    assert world.introspect(token["token"])["exp"] == int(ends_at.timestamp())
    assert server_clock.call_at(ends_at - timedelta(seconds=1), lambda: world.is_active(token["token"]))
    assert not server_clock.call_at(ends_at, lambda: world.is_active(token["token"]))


# -- scopes -----------------------------------------------------------------------------------------------
def test_narrowing_scopes_narrows_the_live_token_at_once(world):
    integration_id, token = setup_integration(world.agency, scopes=[CONTACTS, CALENDARS])
    assert world.introspect(token["token"])["scope"] == f"{CALENDARS} {CONTACTS}"
    etag = world.agency.integration(integration_id).headers["ETag"]

    response = world.agency.patch(
        f"/integrations/{integration_id}", json={"scopes": [CONTACTS]}, headers={"If-Match": etag}
    )

    assert response.status_code == 200, response.text
    assert world.introspect(token["token"])["scope"] == CONTACTS
    assert "integration.scopes_changed" in actions(world.agency, integration_id)


def test_widening_scopes_needs_a_new_token(world):
    integration_id, token = setup_integration(world.agency, scopes=[CONTACTS])

    response = world.agency.patch(f"/integrations/{integration_id}", json={"scopes": [CONTACTS, CALENDARS]})

    assert response.status_code == 200, response.text
    assert world.introspect(token["token"])["scope"] == CONTACTS
    new = rotated(world.agency, integration_id, mode="now")
    assert world.introspect(new["token"])["scope"] == f"{CALENDARS} {CONTACTS}"


def test_narrowing_the_account_ceiling_narrows_live_tokens_of_the_sub_account(world):
    integration = world.agency.create_integration(scopes=[CONTACTS, CALENDARS], account_id=world.sub.account_id)
    token = world.agency.generate(integration["id"])

    response = world.agency.patch(f"/accounts/{world.sub.account_id}", json={"allowed_scopes": [CONTACTS]})
    try:
        assert response.status_code == 200, response.text
        assert world.introspect(token["token"])["scope"] == CONTACTS
    finally:
        assert world.agency.patch(f"/accounts/{world.sub.account_id}", json={"allowed_scopes": None}).status_code == 200


def test_a_stale_if_match_is_409_and_changes_nothing(world):
    integration_id, token = setup_integration(world.agency, scopes=[CONTACTS, CALENDARS])
    stale = world.agency.integration(integration_id).headers["ETag"]
    assert (
        world.agency.patch(
            f"/integrations/{integration_id}", json={"name": "renamed"}, headers={"If-Match": stale}
        ).status_code
        == 200
    )

    response = world.agency.patch(
        f"/integrations/{integration_id}", json={"scopes": [CONTACTS]}, headers={"If-Match": stale}
    )

    assert_problem(response, 409, "changed since you loaded it")
    assert world.introspect(token["token"])["scope"] == f"{CALENDARS} {CONTACTS}"


# -- disable, enable, delete -----------------------------------------------------------------------------------
def test_disable_stops_all_tokens_and_enable_restores_the_unexpired_ones(world):
    integration_id, old = setup_integration(world.agency)
    new = rotated(world.agency, integration_id, mode="later", grace="7d")

    assert world.agency.post(f"/integrations/{integration_id}/disable").json()["status"] == "disabled"
    assert not world.is_active(old["token"]) and not world.is_active(new["token"])
    assert_problem(rotate(world.agency, integration_id, mode="now"), 409, "disabled")

    assert world.agency.post(f"/integrations/{integration_id}/enable").json()["status"] == "active"
    assert world.is_active(old["token"]) and world.is_active(new["token"])
    assert {"integration.disabled", "integration.enabled"} <= set(actions(world.agency, integration_id))


def test_delete_stops_all_tokens_for_good_and_keeps_the_audit_trail(world):
    integration_id, token = setup_integration(world.agency)

    response = world.agency.delete(f"/integrations/{integration_id}")

    assert response.status_code == 204
    assert world.introspect(token["token"]) == {"active": False}
    assert world.agency.integration(integration_id).status_code == 404
    assert world.agency.post(f"/integrations/{integration_id}/enable").status_code == 404
    history = actions(world.agency, integration_id)
    assert history[0] == "integration.created"
    assert history[-1] == "integration.deleted"
    assert "token.generated" in history


# -- activity and inactivity ----------------------------------------------------------------------------------
def test_introspection_records_last_use_and_daily_counts_in_batches(world):
    integration_id, token = setup_integration(world.agency)
    for _ in range(3):
        assert world.is_active(token["token"])

    # The server flushes every 0.5 s here. On SQLite one response's reads are not one snapshot, so it may show the
    # counts of a flush a moment before the last use it wrote with them: wait until both are there.
    deadline = time.monotonic() + 10
    while True:
        activity = world.agency.get(f"/integrations/{integration_id}/activity", params={"days": "1"}).json()
        if activity["usage"][-1]["count"] == 3 and activity["last_used_by"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert activity["usage"][-1]["count"] == 3
    assert activity["last_used_by"] == world.resource_service[0]
    listed = all_tokens(world.agency, integration_id)[token["token_id"]]
    assert (listed["last_used_at"], listed["last_used_by"]) == (activity["last_used_at"], activity["last_used_by"])


def test_idle_token_is_inactive_at_introspection_once_its_window_passes(world, server_clock):
    integration_id, token = setup_integration(world.agency, inactivity_window="1h")
    idle_after = instant(all_tokens(world.agency, integration_id)[token["token_id"]]["expires_if_unused_after"])
    assert idle_after == instant(token["issued_at"]) + timedelta(hours=1)

    # Used one second before the deadline: still active, and the use pushes the deadline a window further.
    used_at = idle_after - timedelta(seconds=1)
    assert server_clock.call_at(used_at, lambda: world.is_active(token["token"]))
    assert server_clock.call_at(
        used_at + timedelta(hours=1) - timedelta(seconds=1), lambda: world.is_active(token["token"])
    )
    last_use = used_at + timedelta(hours=1) - timedelta(seconds=1)
    assert not server_clock.call_at(last_use + timedelta(hours=1), lambda: world.is_active(token["token"]))


def test_expire_inactive_command_marks_idle_tokens_expired_and_is_idempotent(world, server_clock):
    integration_id, idle = setup_integration(world.agency, inactivity_window="1h")
    busy_id, busy = setup_integration(world.agency, inactivity_window="1d")
    server_clock.move(3600 + 5)
    assert not world.is_active(idle["token"])
    assert world.is_active(busy["token"])

    first, second, listed = world.server.cli_batch(
        ["token", "expire-inactive", "--json"],
        ["token", "expire-inactive", "--json"],
        ["token", "list", busy_id, "--json"],
    )

    assert idle["token_id"] in first["expired"]
    assert busy["token_id"] not in first["expired"]
    assert second["expired"] == []
    assert all_tokens(world.agency, integration_id)[idle["token_id"]]["status"] == "expired_inactive"
    [event] = world.agency.audit(action="token.expired_inactive", target_id=idle["token_id"])
    assert event["actor"]["type"] == "system"
    assert world.is_active(busy["token"])
    [busy_row] = listed["tokens"]
    assert busy_row["status"] == "active"
    assert instant(busy_row["expires_if_unused_after"]) > instant(busy["issued_at"]) + timedelta(hours=1)


# -- tenancy --------------------------------------------------------------------------------------------
CROSS_ACCOUNT_READS = {
    "read": ("GET", "", None),
    "list_tokens": ("GET", "/tokens", None),
    "activity": ("GET", "/activity", None),
}
CROSS_ACCOUNT_CHANGES = {
    "generate": ("POST", "/tokens", {}),
    "rotate_now": ("POST", "/rotate", {"mode": "now"}),
    "rotate_later": ("POST", "/rotate", {"mode": "later", "grace": "1h"}),
    "expire_now": ("POST", "/expire", {}),
    "expire_later": ("POST", "/expire", {"in": "2h"}),
    "widen_scopes": ("PATCH", "", {"scopes": [CONTACTS, CALENDARS, "contacts.write"]}),
    "disable": ("POST", "/disable", {}),
    "delete": ("DELETE", "", None),
}


@pytest.mark.parametrize("intruder", ["other", "sub"])
def test_cross_account_attempts_are_404_and_change_nothing(world, intruder):
    integration_id, token = setup_integration(world.agency)
    before = world.agency.integration(integration_id)
    admin = getattr(world, intruder)

    for method, suffix, body in (CROSS_ACCOUNT_READS | CROSS_ACCOUNT_CHANGES).values():
        response = admin.request(method, f"/integrations/{integration_id}{suffix}", json=body)
        assert_problem(response, 404, "not found")

    after = world.agency.integration(integration_id)
    assert after.headers["ETag"] == before.headers["ETag"]
    assert after.json() == before.json()
    assert world.introspect(token["token"])["scope"] == CONTACTS
    # Audited on the intruder's own account, never written into the victim's trail.
    refused = admin.audit(action="integration.change_refused", target_id=integration_id)
    assert len(refused) == len(CROSS_ACCOUNT_CHANGES)
    assert {(event["actor"]["id"], event["source_address"]) for event in refused} == {(admin.client_id, "127.0.0.1")}
    assert all(event["account_id"] == admin.account_id for event in refused)


def test_another_tenant_cannot_create_integrations_or_read_the_audit_of_an_account(world):
    created = world.other.post(
        f"/accounts/{world.agency.account_id}/integrations", json={"name": "intruder", "scopes": [CONTACTS]}
    )
    assert_problem(created, 404, "not found")
    assert_problem(world.other.get(f"/accounts/{world.agency.account_id}/audit"), 404, "not found")
    assert_problem(world.sub.get(f"/accounts/{world.agency.account_id}/integrations"), 404, "not found")
    listed = world.agency.get(f"/accounts/{world.agency.account_id}/integrations").json()["integrations"]
    assert "intruder" not in {integration["name"] for integration in listed}


def test_agency_admin_manages_a_sub_account_integration(world):
    integration = world.agency.create_integration(account_id=world.sub.account_id)
    old = world.agency.generate(integration["id"])

    new = rotated(world.agency, integration["id"], mode="now")

    assert not world.is_active(old["token"]) and world.is_active(new["token"])
    assert "token.rotated" in actions(world.sub, integration["id"])


# -- concurrency -----------------------------------------------------------------------------------------
def at_the_same_moment(*calls):
    """Run the calls in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def assert_live_tokens_agree_with_introspection(world, integration_id: str, issued: dict[str, str]) -> dict:
    live = live_tokens(world.agency, integration_id)
    assert list(live.values()).count("active") == 1 and len(live) <= 2
    for token_id, token in issued.items():
        assert world.is_active(token) == (token_id in live), token_id
    return live


def test_two_admins_rotating_at_the_same_moment_rotate_exactly_once(world):
    admins = [world.agency, world.agency_second_admin]
    integration_id, first = setup_integration(world.agency)
    issued = {first["token_id"]: first["token"]}
    current = first["token_id"]

    for round_number in range(6):
        mode = {"mode": "now"} if round_number % 2 else {"mode": "later", "grace": "1d"}
        etags = [admin.integration(integration_id).headers["ETag"] for admin in admins]
        assert len(set(etags)) == 1

        responses = at_the_same_moment(
            *(
                partial(rotate, admin, integration_id, if_match=etag, **mode)
                for admin, etag in zip(admins, etags, strict=True)
            )
        )

        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 201).json()
        assert_problem(next(r for r in responses if r.status_code == 409), 409, "reload and try again")
        issued[winner["token_id"]] = winner["token"]
        live = assert_live_tokens_agree_with_introspection(world, integration_id, issued)
        assert live[winner["token_id"]] == "active"
        assert (current in live) == (mode["mode"] == "later")
        current = winner["token_id"]

    assert len(all_tokens(world.agency, integration_id)) == 7  # the first token plus one per round


def test_revoking_both_live_tokens_of_an_integration_at_once_revokes_both(world):
    """Each revocation bumps the integration's version; the one that loses the race is retried, never a 503."""
    for _ in range(4):
        integration_id, first = setup_integration(world.agency)
        second = rotated(world.agency, integration_id, mode="later", grace="1d")
        responses = at_the_same_moment(
            *(
                partial(requests.post, f"{world.server.url}/oauth/revoke", data={"token": issued["token"]}, timeout=30)
                for issued in (first, second)
            )
        )
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        assert not world.is_active(first["token"]) and not world.is_active(second["token"])


def test_concurrent_rotations_without_if_match_never_leave_two_current_tokens(world):
    """Without If-Match a second rotation may legitimately follow the first; it must never interleave with it."""
    integration_id, first = setup_integration(world.agency)
    issued = {first["token_id"]: first["token"]}

    for _ in range(4):
        responses = at_the_same_moment(
            *(
                partial(rotate, admin, integration_id, mode="later", grace="1d")
                for admin in (world.agency, world.agency_second_admin)
            )
        )

        assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
        winners = [r.json() for r in responses if r.status_code == 201]
        assert winners
        issued.update((w["token_id"], w["token"]) for w in winners)
        assert_live_tokens_agree_with_introspection(world, integration_id, issued)

    assert len(all_tokens(world.agency, integration_id)) == len(issued)


# -- crash ------------------------------------------------------------------------------------------------
def restart_after_sigkill(world) -> None:
    world.server.stop(signal.SIGKILL)
    world.server.start()


def test_sigkill_right_after_rotations_leaves_each_token_fully_valid_or_fully_dead(world):
    modes = {"now": {"mode": "now"}, "later": {"mode": "later", "grace": "1d"}}
    before = {mode: setup_integration(world.agency) for mode in modes}
    after = {mode: rotated(world.agency, before[mode][0], **body) for mode, body in modes.items()}

    restart_after_sigkill(world)  # straight after the second rotation's response

    jwks = jwt.PyJWKClient(f"{world.server.url}/.well-known/jwks.json", cache_keys=False)
    for mode, (integration_id, old) in before.items():
        new = after[mode]
        assert world.is_active(new["token"])
        assert world.is_active(old["token"]) == (mode == "later")
        expected = {new["token_id"]: "active"} | ({old["token_id"]: "grace"} if mode == "later" else {})
        assert live_tokens(world.agency, integration_id) == expected
        key = jwks.get_signing_key_from_jwt(new["token"])
        jwt.decode(new["token"], key.key, algorithms=["RS256"], audience=world.introspect(new["token"])["aud"])


def test_sigkill_during_rotations_leaves_the_old_state_or_the_new_one(world):
    """Rotations land at staggered moments around the kill: each one either never happened or happened whole."""
    before = [setup_integration(world.agency) for _ in range(4)]
    outcomes: list[dict] = [{} for _ in before]

    modes = [{"mode": "now"}, {"mode": "later", "grace": "1d"}] * 2

    def send(index: int, integration_id: str) -> None:
        time.sleep(0.006 * index)
        try:
            outcomes[index]["response"] = rotate(world.agency, integration_id, **modes[index])
        except requests.RequestException as exc:
            outcomes[index]["error"] = exc

    senders = [threading.Thread(target=send, args=(i, integration_id)) for i, (integration_id, _) in enumerate(before)]
    for sender in senders:
        sender.start()
    time.sleep(0.012)
    world.server.stop(signal.SIGKILL)
    for sender in senders:
        sender.join()
    world.server.start()

    for (integration_id, old), outcome, mode in zip(before, outcomes, modes, strict=True):
        tokens = all_tokens(world.agency, integration_id)
        live = live_tokens(world.agency, integration_id)
        assert list(live.values()).count("active") == 1  # never none, never two current
        if len(tokens) == 1:  # the rotation never committed: the old token is untouched
            assert live == {old["token_id"]: "active"} and world.is_active(old["token"])
            assert "response" not in outcome or outcome["response"].status_code != 201
        else:  # it committed whole: a new current token, the old one dead or in grace per the mode
            [new_id] = set(tokens) - {old["token_id"]}
            in_grace = mode["mode"] == "later"
            assert live == {new_id: "active"} | ({old["token_id"]: "grace"} if in_grace else {})
            assert world.is_active(old["token"]) == in_grace
            if "response" in outcome:
                assert world.is_active(outcome["response"].json()["token"])
