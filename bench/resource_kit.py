"""authserver-resource benchmark: what the package costs a protected endpoint, what the gate adds behind nginx, and
how fast a revocation is refused through the gate. Prints figures; asserts nothing.

    python bench/resource_kit.py [--duration 3] [--rounds 3] [--connections 8] [--revocations 100] [--json]

Starts an authorization server and, for each mode (introspection with its cache, local JWT), side by side:

- the Flask and the Starlette examples of clients/python/examples: requests/s and p50 from wrk (its own process)
  for ``GET /open`` (unprotected) and ``GET /v2/contacts`` (protected, warm cache), in the same process, with the
  same token header, so the ratio is the package's cost (target: protected costs at most 1.1x); the ``_tokenless``
  figures compare with an open call that sends no token (see ``compare``). ``cost`` is the ratio of requests/s,
  ``cpu_cost`` the ratio of the server's CPU time per request (/proc), which a busy machine disturbs far less;
  both are medians of interleaved rounds;
- nginx in front of a node upstream, once with deploy/nginx/gate.conf (``auth_request`` to the gate) and once
  proxying directly: wrk p50 of each and the delta (target: at most 1 ms), and the CPU per request of nginx's
  workers, node and (through the gate) the gate;
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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (/proc): steady on a busy machine, unlike requests/s."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def workers(master: Process) -> list[int]:
    """nginx's worker processes (the master does no request work)."""
    pid = master.proc.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def compare(open_side: tuple[str, list[int]], protected_side: tuple[str, list[int]], token: str, args) -> dict:
    """wrk against the open URL (with the token's header, and without it) and the protected URL, in ``args.rounds``
    interleaved rounds (the order reversed every other round), with the CPU time the serving processes of each side
    spent per request; medians of the rounds. ``cost``/``cpu_cost`` compare the same request (the same
    ``Authorization`` header, ignored by the open endpoint), so they are the package's cost; the ``_tokenless``
    figures compare with a request that carries no token, which also charges the server's HTTP parser for reading
    an 850-character header (uvicorn's h11 spends about 22 us on it, werkzeug a few)."""
    (open_url, open_pids), (protected_url, protected_pids) = open_side, protected_side
    authorization = f"Bearer {token}"
    run_wrk(protected_url, duration=1, connections=args.connections, authorization=authorization)  # warm
    sides = {
        "open": (open_url, open_pids, authorization),
        "open_tokenless": (open_url, open_pids, None),
        "protected": (protected_url, protected_pids, authorization),
    }
    rounds: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in sides}
    for number in range(args.rounds):
        for name in list(sides) if number % 2 == 0 else reversed(list(sides)):
            url, pids, header = sides[name]
            before = cpu_seconds(pids)
            result = run_wrk(url, duration=args.duration, connections=args.connections, authorization=header)
            cpu_us = 1e6 * (cpu_seconds(pids) - before) / max(result.requests, 1)
            rounds[name].append((result.rps, result.p50_ms, cpu_us, result.errors))
    rps, p50, cpu = (
        {name: statistics.median(row[k] for row in rows) for name, rows in rounds.items()} for k in range(3)
    )
    return {
        "open_rps": round(rps["open"]),
        "protected_rps": round(rps["protected"]),
        "cost": round(rps["open"] / max(rps["protected"], 1e-9), 3),
        "open_cpu_us": round(cpu["open"], 1),
        "protected_cpu_us": round(cpu["protected"], 1),
        "cpu_cost": round(cpu["protected"] / max(cpu["open"], 1e-9), 3),
        "open_p50_ms": round(p50["open"], 3),
        "protected_p50_ms": round(p50["protected"], 3),
        "cost_tokenless": round(rps["open_tokenless"] / max(rps["protected"], 1e-9), 3),
        "cpu_cost_tokenless": round(cpu["protected"] / max(cpu["open_tokenless"], 1e-9), 3),
        "open_tokenless_p50_ms": round(p50["open_tokenless"], 3),
        "errors": sum(row[3] for rows in rounds.values() for row in rows),
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
    parser.add_argument("--duration", type=float, default=3, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved open/protected rounds per comparison")
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
                    pids = [process.proc.pid]
                    results[f"{name} {mode}"] = compare(
                        (f"{url}/open", pids), (f"{url}/v2/contacts", pids), token, args
                    )
                    process.stop()
                gate, gate_port = start_gate(kit, work / f"gate-{mode}", mode=mode, routes=ROUTES)
                node, node_port = start_node(UPSTREAM, work)
                started += [gate, node]
                node.wait_until(lambda port=node_port: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok)
                nginx, port = start_nginx(work / f"nginx-{mode}", gate=gate_port, upstream=node_port)
                direct, direct_port = start_direct_nginx(work / f"direct-{mode}", node_port)
                started += [nginx, direct]
                path = "/v2/contacts"
                through = compare(
                    (f"http://127.0.0.1:{direct_port}{path}", workers(direct) + [node.proc.pid]),
                    (f"http://127.0.0.1:{port}{path}", workers(nginx) + [node.proc.pid, gate.proc.pid]),
                    token,
                    args,
                )
                through["gate_p50_delta_ms"] = round(through["protected_p50_ms"] - through["open_p50_ms"], 3)
                through["gate_added_cpu_us"] = round(through["protected_cpu_us"] - through["open_cpu_us"], 1)
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
