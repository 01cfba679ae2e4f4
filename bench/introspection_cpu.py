"""CPU per introspection, in process, through the direct WSGI path; optionally A/B against another checkout.

    python bench/introspection_cpu.py [--iterations 5000] [--rounds 5] [--tokens 1]
    python bench/introspection_cpu.py --against /path/to/other/checkout   # A/B, interleaved rounds

One app on SQLite (a file, WAL, as served), one resource service, ``--tokens`` active tokens asked in turn, the
request every resource service sends (Basic credentials, ``token=...``) answered by ``app.wsgi_app``
(``hotpath/direct.py``); logging is not configured (as bench/signed_introspection.py: the serving process's
handlers are not installed), so the access line's cost is not in the figure.
The figure is this process's CPU time (``time.process_time``) over ``--iterations`` requests, divided by the
count: a shared machine's waiting for a CPU is not counted. With ``--against``, each round runs this script once
in each checkout (a fresh process each, alternating which goes first) and the median and lowest of the rounds are
printed for both, and their ratio. Prints figures; asserts nothing but that every answer is 200 and active.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve()


def measure(root: Path, iterations: int, tokens: int) -> float:
    """µs of CPU per introspection in this process, for the checkout at ``root``."""
    sys.path.insert(0, str(root))
    logging.disable(logging.WARNING)
    from werkzeug.test import EnvironBuilder

    from authserver import create_app
    from authserver.accounts import create_account
    from authserver.clients import create_client
    from authserver.database import prepare
    from authserver.extensions import db
    from authserver.integrations import create_integration, generate_token
    from authserver.principals import OPERATOR
    from authserver.services import services
    from authserver.unit_of_work import unit_of_work

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "keys").mkdir(mode=0o700)
        app = create_app(
            {
                "INSTANCE_PATH": workdir / "instance",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'authserver.db'}",
                "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
                "AUTHSERVER_ISSUER": "http://127.0.0.1:5000",
                "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
                "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": "off",
                "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,
                "SECRET_KEY": "bench-secret-key",
            }
        )
        prepare(app)
        with app.app_context():
            now = services(app).clock.now()
            with unit_of_work():
                account = create_account(OPERATOR, name="Bench", parent_id=None, now=now)
                client, secret = create_client(OPERATOR, name="rs", kind="resource-service", account_id=None, now=now)
            client_id = client.client_id
            issued = []
            for start in range(0, tokens, 100):  # one live token per integration: as many integrations as tokens
                with unit_of_work():
                    for number in range(start, min(tokens, start + 100)):
                        integration = create_integration(
                            OPERATOR,
                            account_id=account.id,
                            name=f"i{number}",
                            description="",
                            scopes=["contacts.readonly"],
                            now=now,
                        )
                        policy = services(app).policy
                        issued.append(generate_token(OPERATOR, integration.id, policy=policy, now=now).token)
            db.session.remove()
        authorization = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        requests = []
        for token in issued:
            environ = EnvironBuilder(
                path="/oauth/introspect",
                method="POST",
                base_url="http://127.0.0.1:5000",
                headers={"Authorization": authorization},
                data=f"token={token}",
                content_type="application/x-www-form-urlencoded",
            ).get_environ()
            environ["REMOTE_ADDR"] = "127.0.0.1"
            requests.append((environ, environ["wsgi.input"].read()))
        wsgi = app.wsgi_app
        seen: list = []

        def start_response(status, headers):
            seen.append(status)

        def run(count: int) -> None:
            for index in range(count):
                template, body = requests[index % len(requests)]
                environ = dict(template)
                environ["wsgi.input"] = BytesIO(body)
                payload = b"".join(wsgi(environ, start_response))
                if not seen.pop().startswith("200") or b'"active":true' not in payload:
                    raise SystemExit(f"unexpected answer: {payload[:200]!r}")

        run(max(500, len(requests)))  # warm up: prepared reads, caches, the first connection
        started = time.process_time()
        run(iterations)
        cpu = time.process_time() - started
        with app.app_context():
            db.engine.dispose()
    return 1e6 * cpu / iterations


def compare(other: Path, iterations: int, rounds: int, tokens: int) -> None:
    here = HERE.parents[1]
    figures: dict[str, list[float]] = {"this checkout": [], "other": []}
    for round_ in range(rounds):
        order = [("this checkout", here), ("other", other)]
        if round_ % 2:
            order.reverse()
        for name, root in order:
            command = [sys.executable, str(HERE), "--root", str(root), "--iterations", str(iterations)]
            command += ["--tokens", str(tokens), "--json"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"{root}: exit {done.returncode}\n{done.stderr[-3000:]}")
            figures[name].append(json.loads(done.stdout)["us_cpu_per_introspection"])
    for name, values in figures.items():
        print(
            f"{name:14} median {statistics.median(values):6.1f}  lowest {min(values):6.1f} µs CPU/introspection"
            f"  rounds {' '.join(f'{v:.1f}' for v in values)}"
        )
    mine, other_ = figures["this checkout"], figures["other"]
    median_ratio = statistics.median(mine) / statistics.median(other_)
    print(f"ratio this/other: median {median_ratio:.3f}  lowest {min(mine) / min(other_):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=1, help="distinct active tokens, asked in turn")
    parser.add_argument("--against", type=Path, help="another checkout to A/B against (interleaved processes)")
    parser.add_argument("--root", type=Path, default=HERE.parents[1], help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against.resolve(), args.iterations, args.rounds, args.tokens)
        return
    if args.json:
        print(json.dumps({"us_cpu_per_introspection": measure(args.root, args.iterations, args.tokens)}))
        return
    figure = measure(args.root, args.iterations, args.tokens)
    print(f"{figure:.1f} µs CPU per introspection ({args.iterations} requests, {args.tokens} token(s))")


if __name__ == "__main__":
    main()
