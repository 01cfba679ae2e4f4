"""What signed introspection answers (RFC 9701) cost, in CPU time per request. Prints figures; asserts nothing.

    python bench/signed_introspection.py [--iterations 3000] [--rounds 5] [--json]

1. The server, in process, through the direct WSGI path (``hotpath/direct.py``, what every introspection reaches),
   on SQLite, for an RS256 and an ES256 signing key, one active token:
   - unsigned, no ``Accept`` header: the path every existing service takes;
   - unsigned, ``Accept: application/json`` and ``Accept: */*``: the header read and negotiated (memoized per
     value), still JSON;
   - unsigned, with the ``signed_answer`` call replaced by a no-op: the path as it was before signed answers, in
     the same run, so "no slower" is a difference of two figures measured side by side;
   - signed, asked for (``Accept: application/token-introspection+jwt``), and signed "always" (the client's
     setting, no ``Accept``).
2. The resource package: ``SignedAnswerReader.read`` of a real answer of each key (its JWKS already fetched), next to
   the ``json.loads`` an unsigned answer costs.

The machine is shared (other processes compete for its CPUs), so every figure is CPU time of this process
(``time.process_time``) over many iterations, divided by the count: waiting for a CPU is not counted. The variants
run interleaved, ``--rounds`` times, and each figure is the lowest round (the least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import statistics
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python"))

from werkzeug.test import EnvironBuilder  # noqa: E402

from authserver import create_app  # noqa: E402
from authserver.accounts import create_account  # noqa: E402
from authserver.clients import create_client, set_introspection_signing  # noqa: E402
from authserver.database import prepare  # noqa: E402
from authserver.extensions import db  # noqa: E402
from authserver.hotpath import direct  # noqa: E402
from authserver.integrations import create_integration, generate_token  # noqa: E402
from authserver.principals import OPERATOR  # noqa: E402
from authserver.services import services  # noqa: E402
from authserver.unit_of_work import unit_of_work  # noqa: E402
from authserver_resource.jwks import KeySet  # noqa: E402
from authserver_resource.signed_answers import SignedAnswerReader  # noqa: E402

ISSUER = "http://127.0.0.1:5000"
JWT_TYPE = "application/token-introspection+jwt"


class FixedClock:
    """The resource side's clock, at the answer's own time (so the age check passes however long the run)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        return self.at


def build(alg: str, workdir: Path):
    """An app signing with ``alg``, one account, a resource service asking when it wants, one set to "always",
    and one active token."""
    (workdir / "keys").mkdir(mode=0o700)
    app = create_app(
        {
            "INSTANCE_PATH": workdir / "instance",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'authserver.db'}",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": ISSUER,
            "AUTHSERVER_SIGNING_ALG": alg,
            "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
            "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,
            "SECRET_KEY": "bench-secret-key",
        }
    )
    prepare(app)
    with app.app_context():
        now = services(app).clock.now()
        with unit_of_work():
            account = create_account(OPERATOR, name="Bench", parent_id=None, now=now)
            service = dict(kind="resource-service", account_id=None, now=now)
            asking, asking_secret = create_client(OPERATOR, name="asks", **service)
            always, always_secret = create_client(OPERATOR, name="always", **service)
            set_introspection_signing(OPERATOR, always.client_id, always=True, now=now)
            integration = create_integration(
                OPERATOR, account_id=account.id, name="i", description="", scopes=["contacts.readonly"], now=now
            )
        with unit_of_work():
            token = generate_token(OPERATOR, integration.id, policy=services(app).policy, now=now).token
        credentials = {"asks": (asking.client_id, asking_secret), "always": (always.client_id, always_secret)}
        jwks = services(app).keystore.published_jwks(now)
        db.session.remove()
    return app, token, credentials, jwks


def environ_for(token: str, credentials: tuple[str, str], accept: str | None) -> dict:
    raw = base64.b64encode(":".join(credentials).encode()).decode()
    headers = {"Authorization": f"Basic {raw}", **({"Accept": accept} if accept else {})}
    return EnvironBuilder(
        path="/oauth/introspect",
        method="POST",
        base_url="http://127.0.0.1:5000",
        headers=headers,
        data=f"token={token}",
        content_type="application/x-www-form-urlencoded",
    ).get_environ()


def call(wsgi, template: dict, body: bytes) -> tuple[str, bytes]:
    environ = dict(template)
    environ["wsgi.input"] = BytesIO(body)
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["type"] = status, dict(headers).get("Content-Type")

    payload = b"".join(wsgi(environ, start_response))
    assert seen["status"].startswith("200"), (seen, payload[:200])
    return seen["type"], payload


def cpu_per_call(action, iterations: int) -> float:
    """Microseconds of this process's CPU per call."""
    started = time.process_time()
    for _ in range(iterations):
        action()
    return 1e6 * (time.process_time() - started) / iterations


def measure_server(alg: str, iterations: int, rounds: int) -> tuple[dict, str, dict, tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        app, token, credentials, jwks = build(alg, Path(tmp))
        wsgi = app.wsgi_app  # DirectIntrospection in front of Flask
        asks, always = credentials["asks"], credentials["always"]
        variants = {
            "unsigned, no Accept": environ_for(token, asks, None),
            "unsigned, Accept: application/json": environ_for(token, asks, "application/json"),
            "unsigned, Accept: */*": environ_for(token, asks, "*/*"),
            "signed, Accept: token-introspection+jwt": environ_for(token, asks, JWT_TYPE),
            'signed, client set to "always"': environ_for(token, always, None),
        }
        bodies = {name: environ["wsgi.input"].read() for name, environ in variants.items()}
        signed_sample = ""
        for name, environ in variants.items():  # warm up: caches, prepared reads, the signing key
            for _ in range(200):
                content_type, payload = call(wsgi, environ, bodies[name])
            assert (content_type == JWT_TYPE) == name.startswith("signed"), (name, content_type)
            if name.startswith("signed, Accept"):
                signed_sample = payload.decode()
        real = direct.signed_answer
        results: dict[str, list[float]] = {name: [] for name in [*variants, "unsigned, no Accept, before (no-op)"]}
        for _ in range(rounds):
            for name, environ in variants.items():
                results[name].append(cpu_per_call(lambda e=environ, b=bodies[name]: call(wsgi, e, b), iterations))
            direct.signed_answer = lambda *args: None  # the path without the signed-answer step
            try:
                environ, body = variants["unsigned, no Accept"], bodies["unsigned, no Accept"]
                results["unsigned, no Accept, before (no-op)"].append(
                    cpu_per_call(lambda e=environ, b=body: call(wsgi, e, b), iterations)
                )
            finally:
                direct.signed_answer = real
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return results, signed_sample, jwks, asks


def measure_reader(signed: str, jwks: dict, client_id: str, iterations: int, rounds: int) -> dict[str, list[float]]:
    import jwt as pyjwt

    keys = KeySet(lambda: jwks, refetch_interval=10)
    iat = pyjwt.decode(signed, options={"verify_signature": False})["iat"]
    reader = SignedAnswerReader(keys, issuer=ISSUER, client_id=client_id, clock=FixedClock(float(iat)))
    plain = json.dumps(reader.read(signed))
    results: dict[str, list[float]] = {"verify signed answer": [], "json.loads of the unsigned answer": []}
    for _ in range(rounds):
        results["verify signed answer"].append(cpu_per_call(lambda: reader.read(signed), iterations))
        results["json.loads of the unsigned answer"].append(cpu_per_call(lambda: json.loads(plain), iterations))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the lowest round is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the access log line is part of the cost, not of the output
    report: dict = {"iterations": args.iterations, "rounds": args.rounds, "server": {}, "resource_package": {}}
    for alg in ("RS256", "ES256"):
        server, sample, jwks, asks = measure_server(alg, args.iterations, args.rounds)
        report["server"][alg] = server
        report["resource_package"][alg] = measure_reader(sample, jwks, asks[0], args.iterations, args.rounds)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(
        f"CPU time of this process per request (time.process_time), µs: lowest of {args.rounds} interleaved rounds "
        f"of {args.iterations} calls (median in brackets). The machine is shared; CPU time leaves out waiting."
    )
    for alg in ("RS256", "ES256"):
        print(f"\nServer, in process through the direct WSGI path, SQLite, {alg} signing key:")
        server = report["server"][alg]
        base = min(server["unsigned, no Accept"])
        for name, values in server.items():
            delta = min(values) - base
            print(f"  {name:45s} {min(values):7.1f}  ({statistics.median(values):7.1f})  {delta:+7.1f} vs no Accept")
        print(f"Resource package, {alg}:")
        for name, values in report["resource_package"][alg].items():
            print(f"  {name:45s} {min(values):7.1f}  ({statistics.median(values):7.1f})")


if __name__ == "__main__":
    main()
