"""CPU per request of a protected endpoint against an open one, in process, for the package's Flask and Starlette
faces (issue 19: protected at most 1.1x open, warm cache). Prints figures; asserts nothing.

    python bench/resource_kit_cpu.py [--requests 20000] [--rounds 5] [--profile flask|starlette]

Flask is called through its test client, Starlette directly on an event loop. No network: the guard
runs in introspection mode with its cache warmed by hand and its feed marked live, which is
exactly the state of a service whose token was introspected a moment ago. Each round times N requests to ``/open``
and N to ``/v2/contacts`` with ``time.process_time`` (steady on a busy machine), alternating which goes first; the
ratio is of the per-round medians. ``bench/resource_kit.py`` measures the same over HTTP, with wrk.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

from authserver_resource import Guard, Settings  # noqa: E402
from authserver_resource.grants import Grant  # noqa: E402


def _jwt_shaped(header: int, payload: int, signature: int) -> str:
    """A token as long as the authorization server's RS256 access tokens (about 850 characters): the guard's
    work (the header's syntax check, the digest) grows with the token, so a short stand-in would flatter it."""
    filler = bytes(range(256)) * 4
    return ".".join(base64.urlsafe_b64encode(filler[:n]).rstrip(b"=").decode() for n in (header, payload, signature))


TOKEN = _jwt_shaped(81, 300, 256)  # a cache key for the bench, not a secret


def warm_guard() -> Guard:
    guard = Guard(Settings(issuer="http://127.0.0.1:9", client_id="rs", client_secret="x" * 32))
    grant = Grant(
        jti="tok_bench",
        account_id="acc_bench",
        integration_id="int_bench",
        client_id="int_bench",
        scopes=frozenset({"contacts.readonly"}),
        exp=time.time() + 3600,
    )
    assert guard.cache is not None
    guard.cache.ttl = 3600  # before the put: an answer lives min(ttl, exp - now), and a run may last minutes
    guard.cache.put(hashlib.sha256(TOKEN.encode()).hexdigest(), grant, now=time.time(), generation=0)
    guard.feed._live, guard.feed._last_ok = True, time.monotonic() + 10**6  # live for the whole run
    guard.start = lambda: None  # no threads: nothing to talk to
    return guard


def flask_client(guard: Guard):
    from flask import Flask, jsonify

    from authserver_resource.flask import FlaskResource, current_grant

    app = Flask("bench")
    resource = FlaskResource(app, guard)

    @app.get("/v2/contacts")
    @resource.require("contacts.readonly")
    def contacts():
        grant = current_grant()
        return jsonify(account_id=grant.account_id, integration_id=grant.integration_id, scopes=sorted(grant.scopes))

    @app.get("/open")
    def open_endpoint():
        return jsonify(account_id="acc_bench", integration_id="int_bench", scopes=["contacts.readonly"])

    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return (lambda: client.get("/open", headers=headers)), (lambda: client.get("/v2/contacts", headers=headers))


def starlette_client(guard: Guard):
    """The ASGI app called directly on one event loop with a prebuilt scope (no HTTP client in between)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from authserver_resource.asgi import GRANT_KEY, ProtectedASGI
    from authserver_resource.routes import RouteTable

    async def contacts(request):
        grant = request.scope["state"][GRANT_KEY]
        return JSONResponse(
            {"account_id": grant.account_id, "integration_id": grant.integration_id, "scopes": sorted(grant.scopes)}
        )

    async def open_endpoint(request):
        return JSONResponse({"account_id": "acc_bench", "integration_id": "int_bench", "scopes": ["contacts.readonly"]})

    inner = Starlette(routes=[Route("/v2/contacts", contacts), Route("/open", open_endpoint)])
    app = ProtectedASGI(inner, guard, routes=RouteTable.parse("GET /v2/contacts contacts.readonly"), public=("/open",))
    loop = asyncio.new_event_loop()

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    def call(path: str):
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8003"), (b"authorization", f"Bearer {TOKEN}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8003),
        }
        loop.run_until_complete(app(scope, receive, send))
        return _Answer(sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]).decode())

    return (lambda: call("/open")), (lambda: call("/v2/contacts"))


class _Answer:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text


def per_request_us(call, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        call()
    return 1e6 * (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=["flask", "starlette"], default=None)
    args = parser.parse_args()
    faces = {"flask": flask_client, "starlette": starlette_client}
    if args.profile:
        from pyinstrument import Profiler

        _open, protected = faces[args.profile](warm_guard())
        for _ in range(500):
            protected()
        with Profiler(interval=0.0002) as profiler:
            for _ in range(args.requests):
                protected()
        print(profiler.output_text(unicode=False, color=False))
        return
    for name, make in faces.items():
        open_call, protected_call = make(warm_guard())
        assert protected_call().status_code == 200, protected_call().text
        for _ in range(500):
            open_call(), protected_call()
        opens, protecteds = [], []
        for round_number in range(args.rounds):
            pair = [(opens, open_call), (protecteds, protected_call)]
            for series, call in pair if round_number % 2 == 0 else reversed(pair):
                series.append(per_request_us(call, args.requests))
        open_us, protected_us = statistics.median(opens), statistics.median(protecteds)
        print(
            f"{name:10} open {open_us:6.1f} us  protected {protected_us:6.1f} us  "
            f"ratio {protected_us / open_us:.3f}  (+{protected_us - open_us:.1f} us; medians of {args.rounds} rounds "
            f"of {args.requests}, CPU time via process_time, the harness's own cost included in both)"
        )


if __name__ == "__main__":
    main()
