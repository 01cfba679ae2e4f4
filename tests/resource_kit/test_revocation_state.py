"""Local mode's revocation state: what the snapshot and events say, judged on this service's clock."""

from __future__ import annotations

from authserver_resource.revocation_state import RevocationState

READ = frozenset({"contacts.readonly"})
NOW = 1_800_000_000.0


def judge(state, jti="tok_1", integration="int_1", scopes=READ, now=NOW, account="acc_1"):
    return state.live_scopes(jti=jti, integration_id=integration, account_id=account, token_scopes=scopes, now=now)


def test_a_token_nobody_spoke_of_keeps_its_own_scopes():
    assert judge(RevocationState()) == (READ, float("inf"))


def test_a_revoked_token_is_refused_until_pruned_after_exp():
    state = RevocationState()
    state.token_revoked("tok_1", exp=NOW + 10)
    assert judge(state) is None
    state.prune(NOW + 11)
    assert state.counts()["revoked"] == 0


def test_a_grace_deadline_is_judged_on_the_services_clock():
    state = RevocationState()
    state.token_ends("tok_1", ends_at=NOW + 60, exp=NOW + 3600)
    assert judge(state, now=NOW + 59) == (READ, NOW + 60)
    assert judge(state, now=NOW + 60) is None


def test_scopes_are_narrowed_by_the_integration_and_inactive_integrations_refuse():
    state = RevocationState()
    both = frozenset({"contacts.readonly", "contacts.write"})
    state.integration_changed({"integration_id": "int_1", "scopes": ["contacts.readonly"], "status": "active"})
    assert judge(state, scopes=both) == (READ, float("inf"))
    state.integration_changed({"integration_id": "int_1", "scopes": ["calendars.readonly"], "status": "active"})
    assert judge(state, scopes=both) is None
    state.integration_changed({"integration_id": "int_1", "scopes": ["contacts.readonly"], "status": "disabled"})
    assert judge(state) is None


def test_a_snapshot_replaces_everything_known_before():
    state = RevocationState()
    state.token_revoked("tok_1", exp=NOW + 10)
    state.load_snapshot(
        {"cursor": 3, "revoked": [], "ending": [{"jti": "tok_2", "ends_at": NOW, "exp": NOW + 9}], "integrations": []}
    )
    assert judge(state) == (READ, float("inf"))
    assert judge(state, jti="tok_2") is None


def test_a_service_bound_to_one_account_refuses_every_other_accounts_tokens():
    """It never hears of other accounts' revocations, so it cannot vouch for their tokens."""
    state = RevocationState()
    state.load_snapshot({"cursor": 1, "account_id": "acc_1", "revoked": [], "ending": [], "integrations": []})
    assert judge(state, account="acc_1") == (READ, float("inf"))
    assert judge(state, account="acc_2") is None


def test_a_revoked_signing_key_refuses_every_token_it_signed_from_the_event_or_the_snapshot():
    state = RevocationState()
    assert state.live_scopes(
        jti="tok_1", integration_id="int_1", account_id="acc_1", token_scopes=READ, now=NOW, kid="kid_old"
    ) == (READ, float("inf"))
    state.key_revoked("kid_old")
    assert (
        state.live_scopes(
            jti="tok_1", integration_id="int_1", account_id="acc_1", token_scopes=READ, now=NOW, kid="kid_old"
        )
        is None
    )
    assert state.live_scopes(
        jti="tok_2", integration_id="int_1", account_id="acc_1", token_scopes=READ, now=NOW, kid="kid_new"
    ) == (READ, float("inf"))
    cold = RevocationState()
    cold.load_snapshot({"cursor": 1, "revoked": [], "ending": [], "integrations": [], "revoked_keys": ["kid_old"]})
    assert (
        cold.live_scopes(
            jti="tok_1", integration_id="int_1", account_id="acc_1", token_scopes=READ, now=NOW, kid="kid_old"
        )
        is None
    )
    assert cold.counts()["revoked_keys"] == 1
