"""CPU per introspection, in process, through the direct WSGI path; optionally A/B against another checkout.

    python bench/introspection_cpu.py [--iterations 5000] [--rounds 5] [--tokens 1]
    python bench/introspection_cpu.py --against /path/to/other/checkout   # A/B, interleaved rounds
    python bench/introspection_cpu.py --postgres [--against ...]          # on a throwaway PostgreSQL database

One app on SQLite (a file, WAL, as served), or with ``--postgres`` on a throwaway database of the local
PostgreSQL (``BENCH_POSTGRES_URL``, as bench/run.py; dropped afterwards), one resource service, ``--tokens`` active
tokens asked in turn, the request every resource service sends (Basic credentials, ``token=...``) answered by
``app.wsgi_app`` (``hotpath/direct.py``); logging is not configured (as bench/signed_introspection.py: the serving
process's handlers are not installed), so the access line's cost is not in the figure.
The figure is this process's CPU time (``time.process_time``) over ``--iterations`` requests, divided by the
count: a shared machine's waiting for a CPU is not counted. The wall-clock time per request is printed beside it
(one request after another: on PostgreSQL it holds the round trips, which the CPU figure does not). With
``--against``, each round runs this script once in each checkout (a fresh process each, alternating which goes
first) and the median and lowest of the rounds are printed for both, and their ratio. Prints figures; asserts
nothing but that every answer is 200 and active.
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
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve()


def measure(root: Path, iterations: int, tokens: int, postgres: bool = False) -> tuple[float, float]:
    """µs of CPU and of wall-clock time per introspection in this process, for the checkout at ``root``."""
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

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database_url = f"sqlite:///{workdir / 'authserver.db'}"
        if postgres:
            from worlds import postgres_database  # bench/worlds.py: this script's directory

            database_url = stack.enter_context(postgres_database("authserver_bench_cpu"))[1]
        (workdir / "keys").mkdir(mode=0o700)
        app = create_app(
            {
                "INSTANCE_PATH": workdir / "instance",
                "SQLALCHEMY_DATABASE_URI": database_url,
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
        started, started_wall = time.process_time(), time.perf_counter()
        run(iterations)
        cpu, wall = time.process_time() - started, time.perf_counter() - started_wall
        with app.app_context():
            db.engine.dispose()
    return 1e6 * cpu / iterations, 1e6 * wall / iterations


def compare(other: Path, iterations: int, rounds: int, tokens: int, postgres: bool) -> None:
    here = HERE.parents[1]
    figures: dict[str, list[float]] = {"this checkout": [], "other": []}
    walls: dict[str, list[float]] = {"this checkout": [], "other": []}
    for round_ in range(rounds):
        order = [("this checkout", here), ("other", other)]
        if round_ % 2:
            order.reverse()
        for name, root in order:
            command = [sys.executable, str(HERE), "--root", str(root), "--iterations", str(iterations)]
            command += ["--tokens", str(tokens), "--json"] + (["--postgres"] if postgres else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"{root}: exit {done.returncode}\n{done.stderr[-3000:]}")
            answer = json.loads(done.stdout)
            figures[name].append(answer["us_cpu_per_introspection"])
            walls[name].append(answer["us_wall_per_introspection"])
    for name, values in figures.items():
        print(
            f"{name:14} median {statistics.median(values):6.1f}  lowest {min(values):6.1f} µs CPU/introspection"
            f"  rounds {' '.join(f'{v:.1f}' for v in values)}"
            f"  (wall median {statistics.median(walls[name]):6.1f} µs)"
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
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database instead of SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against.resolve(), args.iterations, args.rounds, args.tokens, args.postgres)
        return
    cpu, wall = measure(args.root, args.iterations, args.tokens, args.postgres)
    if args.json:
        print(json.dumps({"us_cpu_per_introspection": cpu, "us_wall_per_introspection": wall}))
        return
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{cpu:.1f} µs CPU, {wall:.1f} µs wall per introspection"
        f" ({args.iterations} requests, {args.tokens} token(s), {database})"
    )


if __name__ == "__main__":
    main()
