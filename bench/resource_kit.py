"""authserver-resource benchmark: what the package costs a protected endpoint, what the gate adds behind nginx, and
how fast a revocation is refused through the gate. Prints figures; asserts nothing.

    python bench/resource_kit.py [--duration 5] [--connections 8] [--revocations 100] [--json]

Starts an authorization server and, for each mode (introspection with its cache, local JWT), side by side:

- the Flask and the Starlette examples of clients/python/examples: requests/s and p50 from wrk (its own process)
  for ``GET /open`` (unprotected) and ``GET /v2/contacts`` (protected, warm cache), in the same process, so the
  ratio is the package's cost (target: protected costs at most 1.1x);
- nginx in front of a node upstream, once with deploy/nginx/gate.conf (``auth_request`` to the gate) and once
  proxying directly: wrk p50 of each and the delta (target: at most 1 ms);
- revocation -> rejection through nginx and the gate: ``--revocations`` times, a token is used, revoked (RFC 7009)
  and polled until 401; p50 and max from sending the revocation (target: under 1 s).

Everything it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from load import run_wrk  # noqa: E402

from tests.resource_kit import conftest as kit_support  # noqa: E402
from tests.support.resource_demo import AdminApi, cli_batch  # noqa: E402
from tests.support.servers import free_port, make_authserver  # noqa: E402

NGINX, READ, RESOURCE = kit_support.NGINX, kit_support.READ, kit_support.RESOURCE
Kit, Process = kit_support.Kit, kit_support.Process
start_gate, start_nginx, start_node = kit_support.start_gate, kit_support.start_nginx, kit_support.start_node
EXAMPLES = ROOT / "clients" / "python" / "examples"
UPSTREAM = ROOT / "tests" / "resource_kit" / "upstream.js"
ROUTES = f"GET /v2/contacts {READ}\n* /open -\n"


def start_example(kit: Kit, workdir: Path, name: str, mode: str) -> tuple[Process, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | {
        "ISSUER": kit.server.url,
        "CLIENT_ID": kit.service["client_id"],
        "CLIENT_SECRET": kit.service["client_secret"],
        "MODE": mode,
        "RESOURCE": RESOURCE,
    }
    process = Process(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(port)], workdir / f"{name}.log", env=env, cwd=EXAMPLES
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).json()["status"] == "ok")
    return process, url


def start_direct_nginx(workdir: Path, upstream: int) -> tuple[Process, int]:
    """nginx proxying straight to the upstream: the baseline the gate is compared with."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    proxy_temp_path {workdir}; client_body_temp_path {workdir};
    upstream protected_service {{ server 127.0.0.1:{upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://protected_service; proxy_http_version 1.1;
                     proxy_set_header Connection ""; }}
    }}
}}
""")
    nginx = Process([NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")], workdir / "nginx.log", cwd=workdir)
    return nginx.wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/open", timeout=1).ok), port


def compare(open_url: str, protected_url: str, token: str, args) -> dict:
    run_wrk(protected_url, duration=1, connections=args.connections, authorization=f"Bearer {token}")  # warm
    plain = run_wrk(open_url, duration=args.duration, connections=args.connections)
    guarded = run_wrk(
        protected_url, duration=args.duration, connections=args.connections, authorization=f"Bearer {token}"
    )
    open_rps, protected_rps = plain.requests / plain.seconds, guarded.requests / guarded.seconds
    return {
        "open_rps": round(open_rps),
        "protected_rps": round(protected_rps),
        "cost": round(open_rps / max(protected_rps, 1e-9), 3),
        "open_p50_ms": round(plain.p50_ms, 3),
        "protected_p50_ms": round(guarded.p50_ms, 3),
        "errors": plain.errors + guarded.errors,
    }


def revocations(kit: Kit, url: str, integration: str, count: int) -> dict:
    elapsed, session = [], requests.Session()
    for _ in range(count):
        token = kit.admin.generate_token(integration)
        headers = {"Authorization": f"Bearer {token}"}
        if session.get(url, headers=headers, timeout=5).status_code != 200:
            raise RuntimeError("a fresh token was refused")
        sent = time.monotonic()
        kit.revoke(token)
        while session.get(url, headers=headers, timeout=5).status_code != 401:
            if time.monotonic() - sent > 5:
                raise RuntimeError("a revoked token was still honoured after 5 s")
            time.sleep(0.002)
        elapsed.append(time.monotonic() - sent)
    return {
        "count": len(elapsed),
        "p50_ms": round(statistics.median(elapsed) * 1000, 1),
        "max_ms": round(max(elapsed) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict = {"load_average": os.getloadavg()}
    started: list[Process] = []
    with tempfile.TemporaryDirectory(prefix="bench-kit-") as tmp:
        work = Path(tmp)
        server = make_authserver(work / "authserver")
        server.start()
        try:
            account, service, admin = cli_batch(
                server,
                ("account", "create", "--name", "Bench", "--json"),
                ("client", "create", "--name", "bench-kit", "--kind", "resource-service", "--json"),
                ("client", "create", "--name", "bench-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            )
            kit = Kit(server, service, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"]))
            integration = kit.admin.create_integration("bench", [READ])
            token = kit.admin.generate_token(integration)
            for mode in ("introspection", "local"):
                for name in ("flask_app", "starlette_app"):
                    process, url = start_example(kit, work / f"{name}-{mode}", name, mode)
                    started.append(process)
                    results[f"{name} {mode}"] = compare(f"{url}/open", f"{url}/v2/contacts", token, args)
                    process.stop()
                gate, gate_port = start_gate(kit, work / f"gate-{mode}", mode=mode, routes=ROUTES)
                node, node_port = start_node(UPSTREAM, work)
                started += [gate, node]
                node.wait_until(lambda port=node_port: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok)
                nginx, port = start_nginx(work / f"nginx-{mode}", gate=gate_port, upstream=node_port)
                direct, direct_port = start_direct_nginx(work / f"direct-{mode}", node_port)
                started += [nginx, direct]
                through = compare(
                    f"http://127.0.0.1:{direct_port}/v2/contacts", f"http://127.0.0.1:{port}/v2/contacts", token, args
                )
                through["gate_p50_delta_ms"] = round(through["protected_p50_ms"] - through["open_p50_ms"], 3)
                results[f"gate behind nginx {mode}"] = through
                revoked = kit.admin.create_integration(f"revoked {mode}", [READ])  # one live token at a time
                results[f"revocation through the gate {mode}"] = revocations(
                    kit, f"http://127.0.0.1:{port}/v2/contacts", revoked, args.revocations
                )
                for process in (nginx, direct, node, gate):
                    process.stop()
        finally:
            for process in started:
                process.stop()
            server.stop()
    results["load_average_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for label, figures in results.items():
        print(f"{label}: {figures}")


if __name__ == "__main__":
    main()
