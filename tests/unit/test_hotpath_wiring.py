"""The hot path's seams, checked rather than promised: the gate's step-out is handed down from the direct path
(and only from it) to the reads that wait on the network, and token holders never reach the direct path."""

from __future__ import annotations

from werkzeug.test import Client, EnvironBuilder

from authserver.extensions import db
from authserver.hotpath.direct import DirectIntrospection
from authserver.hotpath.fair_gate import FairGate
from authserver.oauth.client_auth import TokenHolder
from authserver.oauth.introspection import TokenIntrospectionEndpoint
from authserver.tokens import load_state


class CountingGate(FairGate):
    """A real gate whose step-out also counts how often it was entered."""

    def __init__(self) -> None:
        super().__init__(1)
        self.step_outs = 0
        gate, real = self, self.stepped_out

        class Counting:
            def __enter__(self) -> None:
                gate.step_outs += 1
                real.__enter__()

            def __exit__(self, *exc_info) -> None:
                real.__exit__(*exc_info)

        self.stepped_out = Counting()


def _remote(app) -> bool:
    return db.engine.dialect.name != "sqlite"


def test_the_direct_path_steps_out_of_its_gate_around_each_remote_read(app, world):
    """One network read per introspection on PostgreSQL (the client's credentials and the token's state read
    ahead together: hotpath/introspection_prefetch); SQLite's in-process reads never step out."""
    direct = app.wsgi_app
    assert isinstance(direct, DirectIntrospection)
    request = dict(data={"token": world.agency.token}, headers=world.rs_headers)
    Client(direct).post("/oauth/introspect", **request)  # the signing key's first check reads it through the session
    db.session.remove()  # as each served request starts: outside a transaction, so the prepared reads serve
    direct.gate = CountingGate()
    answer = Client(direct).post("/oauth/introspect", **request)
    assert answer.status_code == 200 and answer.get_json()["active"] is True
    assert direct.gate.step_outs == (1 if _remote(app) else 0)
    assert direct.gate._free == 1 and not direct.gate._waiting  # left whole


def test_the_flask_route_holds_no_gate_and_never_enters_one(app, world):
    direct = app.wsgi_app
    direct.gate = CountingGate()
    db.session.remove()
    answer = Client(direct.wsgi_app).post(
        "/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers
    )
    assert answer.status_code == 200 and answer.get_json()["active"] is True
    assert direct.gate.step_outs == 0


def test_the_token_state_read_enters_the_wait_it_is_given_only_for_a_remote_database(app, world):
    gate = CountingGate()
    gate.enter()
    db.session.remove()
    assert load_state(world.agency.jti, gate.stepped_out) is not None
    assert gate.step_outs == (1 if _remote(app) else 0)
    assert gate._free == 0  # back in the gate it held
    gate.leave()


def test_token_holders_cannot_authenticate_at_introspection():
    """Possession of a token authenticates only at revocation, which the direct path never serves."""
    assert "token_possession" not in TokenIntrospectionEndpoint.CLIENT_AUTH_METHODS
    holder = TokenHolder()
    for method in ("token_possession", "client_secret_basic", "client_secret_post", "none"):
        assert not holder.check_endpoint_auth_method(method, "introspection")
    assert not holder.may_use("introspection")


def test_a_token_holder_on_the_direct_path_is_refused_there_as_an_unknown_client(app, world):
    """Token only, no credentials: the direct path takes the request itself and refuses it, 401 invalid_client."""
    direct = app.wsgi_app
    request = dict(path="/oauth/introspect", method="POST", data={"token": world.agency.token})
    assert direct._read_form(EnvironBuilder(**request).get_environ()) is not None  # the direct path's to answer
    answer = Client(direct).open(**request)
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    assert answer.headers["Cache-Control"] == "no-store"
