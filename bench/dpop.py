"""What DPoP (RFC 9449) costs a resource service per request, in CPU time. Prints figures; asserts nothing.

    python bench/dpop.py [--iterations 2000] [--no-server] [--json]

1. ``dpop.verify_proof`` alone, per algorithm (ES256, RS256, and the others advertised): the proof parsed, the
   signature verified, the claims and the thumbprint checked. One client key per row, as in steady state: the key
   is imported from the ``jwk`` header once and memoized by the header's text; ``first proof of a key`` rows add
   that import (a client's first call, or a flood of new keys);
2. the whole request-side step (``SenderConstraint.enforce``: proof + jti replay cache), with the cache in memory and
   in Redis (127.0.0.1:6379; skipped if unreachable). Redis is a network round trip: CPU time leaves out the wait,
   so wall time per check is printed beside it;
3. a protected call through ``Guard.check`` (a warm introspection cache, and local JWT mode) for a bearer token and
   for a DPoP-bound token with a fresh proof, against a real authorization server started here (``--no-server``
   skips it). The difference is what DPoP adds to a call.

The machine is shared (other processes compete for its 2 CPUs), so every figure is CPU time of this process
(``time.process_time``) over many iterations, divided by the count: waiting for a CPU is not counted. Proofs are
made before timing starts (one per iteration: each has its own jti).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python"))

from joserfc import jwt as jose_jwt  # noqa: E402
from joserfc.errors import SecurityWarning  # noqa: E402
from joserfc.jwk import ECKey, OKPKey, RSAKey  # noqa: E402

from authserver_resource.dpop import jwk_thumbprint, verify_proof  # noqa: E402
from authserver_resource.dpop_replay import MemoryReplayCache, RedisReplayCache  # noqa: E402
from authserver_resource.grants import Grant  # noqa: E402
from authserver_resource.sender_constraint import SenderConstraint  # noqa: E402
from authserver_resource.settings import Settings  # noqa: E402

URL = "https://api.example.com/v2/contacts"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"  # noqa: S105 - a stand-in the proofs bind to
REDIS_URL = "redis://127.0.0.1:6379/15"
KEYS = {
    "ES256": lambda: ECKey.generate_key("P-256"),
    "RS256": lambda: RSAKey.generate_key(2048),
    "ES384": lambda: ECKey.generate_key("P-384"),
    "PS256": lambda: RSAKey.generate_key(2048),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
}


def proofs(key, alg: str, count: int, *, url: str = URL, token: str = TOKEN) -> list[str]:
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    made = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc: "EdDSA is deprecated via RFC 9864"
        for _ in range(count):
            claims = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": url, "iat": int(time.time()), "ath": ath}
            made.append(jose_jwt.encode(header, claims, key, algorithms=[alg]))
    return made


def cpu_us(action, items: list) -> tuple[float, float]:
    """(CPU µs, wall µs) per item of ``action(item)`` over all items."""
    cpu, wall = time.process_time(), time.perf_counter()
    for item in items:
        action(item)
    return (
        (time.process_time() - cpu) / len(items) * 1e6,
        (time.perf_counter() - wall) / len(items) * 1e6,
    )


class Clock:
    def time(self) -> float:
        return time.time()


def bench_proofs(iterations: int) -> dict:
    figures: dict = {}
    for alg, make_key in KEYS.items():
        key = make_key()
        made = proofs(key, alg, iterations)
        jkt = key.thumbprint()
        cpu, _ = cpu_us(
            lambda proof, jkt=jkt: verify_proof(
                [proof], method="GET", url=URL, access_token=TOKEN, jkt=jkt, now=time.time()
            ),
            made,
        )
        figures[f"verify_proof {alg}"] = round(cpu, 1)
        fresh = [proofs(make_key(), alg, 1)[0] for _ in range(min(iterations, 200))]
        keys = [_jkt_of(proof) for proof in fresh]
        cpu, _ = cpu_us(
            lambda pair: verify_proof(
                [pair[0]], method="GET", url=URL, access_token=TOKEN, jkt=pair[1], now=time.time()
            ),
            list(zip(fresh, keys, strict=True)),
        )
        figures[f"verify_proof {alg}, first proof of a key"] = round(cpu, 1)
    return figures


def _jkt_of(proof: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    return jwk_thumbprint(header["jwk"])


def bench_enforce(iterations: int) -> dict:
    figures: dict = {}
    settings = Settings(issuer="http://127.0.0.1:5000", client_id="bench", client_secret="bench")  # noqa: S106
    key = ECKey.generate_key("P-256")
    grant = Grant("jti", "acc", "int", "int", frozenset({"contacts.readonly"}), time.time() + 3600, key.thumbprint())
    caches: dict = {"memory": MemoryReplayCache(65)}
    redis_cache = RedisReplayCache(REDIS_URL, 65)
    try:
        redis_cache.client.ping()
        caches["redis"] = redis_cache
    except Exception as exc:  # noqa: BLE001 - any failure means: no Redis here, skip that row
        print(f"  (Redis at {REDIS_URL} unreachable, skipped: {exc})", file=sys.stderr)
    for name, cache in caches.items():
        constraint = SenderConstraint(settings, Clock(), replay=cache)
        made = proofs(key, "ES256", iterations)
        cpu, wall = cpu_us(
            lambda proof, constraint=constraint: constraint.enforce(
                grant, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[proof]
            ),
            made,
        )
        figures[f"enforce ES256, replay cache in {name}"] = {"cpu_us": round(cpu, 1), "wall_us": round(wall, 1)}
    return figures


def bench_guard(iterations: int) -> dict:
    """Guard.check, bearer vs DPoP, both modes, against a real authorization server."""
    from authserver_resource import Guard
    from tests.support.resource_demo import AdminApi, cli_batch
    from tests.support.servers import make_authserver

    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-dpop-") as workdir:
        server = make_authserver(Path(workdir) / "authserver")
        server.start()
        try:
            account, service, admin_client = cli_batch(
                server,
                ("account", "create", "--name", "Bench", "--json"),
                ("client", "create", "--name", "bench-service", "--kind", "resource-service", "--json"),
                ("client", "create", "--name", "bench-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            )
            admin = AdminApi(server.url, account["id"], admin_client["client_id"], admin_client["client_secret"])
            key = ECKey.generate_key("P-256")
            bearer = admin.generate_token(admin.create_integration("bench bearer", ["contacts.readonly"]))
            body = {"name": "bench dpop", "scopes": ["contacts.readonly"], "dpop_jkt": key.thumbprint()}
            bound = admin.generate_token(
                admin.call("POST", f"/api/accounts/{admin.account_id}/integrations", 201, json=body)["id"]
            )
            for mode in ("introspection", "local"):
                settings = Settings(
                    issuer=server.url,
                    client_id=service["client_id"],
                    client_secret=service["client_secret"],
                    mode=mode,
                    usage_interval=300,
                )
                figures[f"Guard.check {mode}"] = _guard_figures(Guard(settings), bearer, bound, key, iterations)
        finally:
            server.stop()
    return figures


def _guard_figures(guard, bearer: str, bound: str, key, iterations: int) -> dict:
    guard.start()
    try:
        deadline = time.monotonic() + 20
        while not guard.is_ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = "http://127.0.0.1:8000/v2/contacts"
        guard.check(f"Bearer {bearer}", "contacts.readonly")  # warm: cache filled, signature memoized
        warm = proofs(key, "ES256", 1, url=url, token=bound)[0]
        guard.check(f"DPoP {bound}", "contacts.readonly", method="GET", url=url, dpop=[warm])
        cpu_bearer, _ = cpu_us(lambda _: guard.check(f"Bearer {bearer}", "contacts.readonly"), list(range(iterations)))
        made = proofs(key, "ES256", iterations, url=url, token=bound)
        cpu_dpop, _ = cpu_us(
            lambda proof: guard.check(f"DPoP {bound}", "contacts.readonly", method="GET", url=url, dpop=[proof]),
            made,
        )
    finally:
        guard.stop()
    return {
        "bearer_cpu_us": round(cpu_bearer, 1),
        "dpop_es256_cpu_us": round(cpu_dpop, 1),
        "dpop_adds_cpu_us": round(cpu_dpop - cpu_bearer, 1),
    }


def main() -> None:
    logging.getLogger("authserver_resource").setLevel(logging.ERROR)  # the feed's "down" lines as the server stops
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--no-server", action="store_true", help="skip the Guard.check figures (no authserver)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {"iterations": args.iterations, "unit": "µs of CPU time (time.process_time) per request"}
    figures |= bench_proofs(args.iterations)
    figures |= bench_enforce(args.iterations)
    if not args.no_server:
        figures |= bench_guard(args.iterations)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"DPoP cost per request: CPU time of this process over {args.iterations} iterations each")
    print("(the machine is shared, so wall time would count waiting for a CPU; CPU time does not)")
    for name, value in figures.items():
        if name in ("iterations", "unit"):
            continue
        if isinstance(value, dict):
            print(f"  {name:<44} " + ", ".join(f"{k} {v:.1f} µs" for k, v in value.items()))
        else:
            print(f"  {name:<44} {value:.1f} µs")


if __name__ == "__main__":
    main()
