"""resource_demo benchmark: what token validation costs a v2 call, and how fast a revocation stops being honoured.

    python bench/resource_demo.py [--duration 5] [--connections 8] [--revocations 100] [--json]

Starts an authorization server (``authserver run``) and resource_demo on 127.0.0.1, then for each configuration
(introspection with its cache, introspection with the cache off, local JWT validation):

- requests/s from wrk (its own process) for ``GET /healthz`` (no validation) and ``GET /v2/ping`` (the same small
  JSON answer behind a bearer token), each run bounded by ``--duration``;
- revocation propagation (both validating modes): ``--revocations`` times, generate a token, use it (so it is
  cached or known live), revoke it with RFC 7009, and poll the service until it answers 401. Reported from the
  moment the revocation request is sent (p50/p90/max), and from the moment it returned.

Everything it starts is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import json
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

from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo  # noqa: E402
from tests.support.servers import make_authserver  # noqa: E402

CONFIGURATIONS = [  # (label, mode, extra environment)
    ("introspection (cache 30 s)", "introspection", {"RESOURCE_DEMO_CACHE_TTL": "30"}),
    ("introspection (cache off)", "introspection", {"RESOURCE_DEMO_CACHE_TTL": "0"}),
    ("local JWT", "local", {}),
]
PROPAGATION_TIMEOUT = 5.0


def measure_propagation(
    demo_url: str, admin: AdminApi, revoke_url: str, integration: str, *, count: int, budget: float
) -> dict:
    """Revoke ``count`` tokens one after another; seconds from sending each revocation until the first 401."""
    from_send, from_return = [], []
    poller, revoker = requests.Session(), requests.Session()
    deadline = time.monotonic() + budget
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        token = admin.generate_token(integration)
        headers = {"Authorization": f"Bearer {token}"}
        if poller.get(f"{demo_url}/v2/ping", headers=headers, timeout=5).status_code != 200:
            raise RuntimeError("a fresh token was refused")
        sent = time.monotonic()
        if revoker.post(revoke_url, data={"token": token}, timeout=5).status_code != 200:
            raise RuntimeError("revocation failed")
        returned = time.monotonic()
        while poller.get(f"{demo_url}/v2/ping", headers=headers, timeout=5).status_code != 401:
            if time.monotonic() - sent > PROPAGATION_TIMEOUT:
                raise RuntimeError(f"revocation not honoured within {PROPAGATION_TIMEOUT}s")
            time.sleep(0.002)
        done = time.monotonic()
        from_send.append(done - sent)
        from_return.append(done - returned)
    return {"revocations": len(from_send), **summarize("from_send", from_send), **summarize("from_return", from_return)}


def summarize(prefix: str, seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {
        f"{prefix}_p50_ms": round(statistics.median(ordered) * 1000, 1),
        f"{prefix}_p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
        f"{prefix}_max_ms": round(ordered[-1] * 1000, 1),
    }


def run(args) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-resource-demo-"))
    server = make_authserver(workdir / "authserver")
    results = []
    demo = None
    try:
        server.start()
        account, service, admin_client = cli_batch(
            server,
            ("account", "create", "--name", "Bench", "--json"),
            ("client", "create", "--name", "bench-api", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "bench-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        )
        admin = AdminApi(server.url, account["id"], admin_client["client_id"], admin_client["client_secret"])
        revoke_url = server.url + "/oauth/revoke"
        for index, (label, mode, env) in enumerate(CONFIGURATIONS):
            demo = make_resource_demo(
                workdir / f"demo-{index}",
                authserver_url=server.url,
                mode=mode,
                client_id=service["client_id"],
                client_secret=service["client_secret"],
                RESOURCE_DEMO_USAGE_INTERVAL="5",
                **env,
            ).start()
            integration = admin.create_integration(f"bench {index}", ["contacts.readonly"])
            token = admin.generate_token(integration)
            authorization = f"Bearer {token}"
            run_wrk(f"{demo.url}/v2/ping", duration=1, connections=args.connections, authorization=authorization)
            open_result = run_wrk(f"{demo.url}/healthz", duration=args.duration, connections=args.connections)
            guarded = run_wrk(
                f"{demo.url}/v2/ping", duration=args.duration, connections=args.connections, authorization=authorization
            )
            row = {
                "configuration": label,
                "rps_without_validation": round(open_result.rps),
                "rps_with_validation": round(guarded.rps),
                "p50_ms_with_validation": round(guarded.p50_ms, 2),
                "errors": open_result.errors + guarded.errors,
            }
            if args.revocations and env.get("RESOURCE_DEMO_CACHE_TTL") != "0":
                admin.expire_now(integration)
                propagation_integration = admin.create_integration(f"bench revocations {index}", ["contacts.readonly"])
                row |= measure_propagation(
                    demo.url,
                    admin,
                    revoke_url,
                    propagation_integration,
                    count=args.revocations,
                    budget=args.revocation_budget,
                )
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            demo.stop()
            demo = None
    finally:
        if demo is not None:
            demo.stop()
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--revocation-budget", type=float, default=90.0, help="max seconds per mode for them")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"\n{'configuration':<28} {'req/s open':>10} {'req/s token':>11} {'revocations':>11} "
        f"{'p50 ms':>7} {'p90 ms':>7} {'max ms':>7}"
    )
    for row in results:
        prop = [
            str(row.get(k, "-")) for k in ("revocations", "from_send_p50_ms", "from_send_p90_ms", "from_send_max_ms")
        ]
        print(
            f"{row['configuration']:<28} {row['rps_without_validation']:>10} {row['rps_with_validation']:>11} "
            f"{prop[0]:>11} {prop[1]:>7} {prop[2]:>7} {prop[3]:>7}"
        )
    print("(propagation: from sending the RFC 7009 revocation to the service's first 401)")


if __name__ == "__main__":
    main()
