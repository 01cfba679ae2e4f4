"""What binding tokens to a DPoP key (RFC 9449) costs the authorization server, in CPU time per introspection.
Prints figures; asserts nothing.

    python bench/dpop_binding.py [--iterations 3000] [--rounds 5]

The server, in process, through the direct WSGI path (``hotpath/direct.py``, what every introspection reaches), on
SQLite, one resource service, two active tokens: one of an unbound integration (the answer as before: ``Bearer``)
and one of an integration bound to a key (the record's ``dpop_jkt`` read in the same query, compared with the
token's ``cnf.jkt``, and ``cnf`` added to the answer). Also ``dpop_keys.parse_jwk`` (registering a key: an admin
action, not a per-request cost), for an EC P-256 and an RSA 2048 key.

The machine is shared (other processes compete for its CPUs), so every figure is CPU time of this process
(``time.process_time``) over many iterations, divided by the count: waiting for a CPU is not counted. The two
tokens run interleaved, ``--rounds`` times, and each figure is the lowest round (the least disturbed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python"))

from joserfc.jwk import ECKey, RSAKey  # noqa: E402

from authserver import create_app  # noqa: E402
from authserver.accounts import create_account  # noqa: E402
from authserver.clients import create_client  # noqa: E402
from authserver.database import prepare  # noqa: E402
from authserver.dpop_keys import parse_jwk  # noqa: E402
from authserver.extensions import db  # noqa: E402
from authserver.integrations import create_integration, generate_token  # noqa: E402
from authserver.principals import OPERATOR  # noqa: E402
from authserver.services import services  # noqa: E402
from authserver.unit_of_work import unit_of_work  # noqa: E402
from bench.signed_introspection import call, cpu_per_call, environ_for  # noqa: E402

ISSUER = "http://127.0.0.1:5000"


def build(workdir: Path):
    """An app, one account, a resource service, and an active token of an unbound and of a bound integration."""
    (workdir / "keys").mkdir(mode=0o700)
    app = create_app(
        {
            "INSTANCE_PATH": workdir / "instance",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'authserver.db'}",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": ISSUER,
            "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
            "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,
            "SECRET_KEY": "bench-secret-key",
        }
    )
    prepare(app)
    jkt = ECKey.generate_key("P-256").thumbprint()
    with app.app_context():
        now = services(app).clock.now()
        with unit_of_work():
            account = create_account(OPERATOR, name="Bench", parent_id=None, now=now)
            client, secret = create_client(OPERATOR, name="rs", kind="resource-service", account_id=None, now=now)
            common = dict(account_id=account.id, description="", scopes=["contacts.readonly"], now=now)
            plain = create_integration(OPERATOR, name="plain", **common)
            bound = create_integration(OPERATOR, name="bound", dpop_jkt=jkt, **common)
        tokens = {}
        for name, integration in (("unbound (Bearer)", plain), ("bound (DPoP, cnf)", bound)):
            with unit_of_work():
                tokens[name] = generate_token(OPERATOR, integration.id, policy=services(app).policy, now=now).token
        credentials = (client.client_id, secret)
        db.session.remove()
    return app, tokens, credentials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app, tokens, credentials = build(Path(tmp))
        wsgi = app.wsgi_app  # DirectIntrospection in front of Flask
        environs = {name: environ_for(token, credentials, None) for name, token in tokens.items()}
        bodies = {name: environ["wsgi.input"].read() for name, environ in environs.items()}
        for name, environ in environs.items():  # warm up: caches, prepared reads
            for _ in range(200):
                _, payload = call(wsgi, environ, bodies[name])
            answer = json.loads(payload)
            assert answer["active"] and ("cnf" in answer) == name.startswith("bound"), answer
        results: dict[str, list[float]] = {name: [] for name in environs}
        for _ in range(args.rounds):
            for name, environ in environs.items():
                results[name].append(cpu_per_call(lambda e=environ, b=bodies[name]: call(wsgi, e, b), args.iterations))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(f"introspection, direct path, SQLite: CPU per request, lowest of {args.rounds} rounds of {args.iterations}")
    for name, figures in results.items():
        print(f"  {name:24} {min(figures):7.1f} us   (rounds: {', '.join(f'{f:.0f}' for f in figures)})")
    base, bound = (min(figures) for figures in results.values())
    print(f"  difference               {bound - base:+7.1f} us ({100 * (bound - base) / base:+.1f}%)")
    keys = {"EC P-256": ECKey.generate_key("P-256"), "RSA 2048": RSAKey.generate_key(2048)}
    print("registering a key (dpop_keys.parse_jwk: checks, loads, thumbprint), CPU per call")
    for name, key in keys.items():
        public = key.as_dict(private=False)
        started = time.process_time()
        for _ in range(2000):
            parse_jwk(public)
        print(f"  {name:24} {1e6 * (time.process_time() - started) / 2000:7.1f} us")


if __name__ == "__main__":
    main()
