"""The write paths under load: RFC 7009 revocation by the token holder, and token generation (the admin API's
"rotate now", which mints and signs a token and stops the integration's previous ones), on ``authserver serve``.

Each request changes something, so nothing is repeated: every revocation names a token not yet revoked (the pool
is sized from ``--revocations-pool``; if the server outruns it, the note says so), and each rotation goes to the next
integration in turn, so no two concurrent requests touch the same integration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

from load import Result, ensure_wrk, run_wrk
from processes import free_port
from report import Series, print_table
from worlds import bulk_world

PATHS_LUA = Path(__file__).with_name("paths.lua")


def run_paths(
    url: str,
    requests: Path,
    *,
    duration: float,
    connections: int,
    authorization: str = "",
    content_type: str = "application/x-www-form-urlencoded",
) -> Result:
    """wrk with ``paths.lua``: POSTs whose path changes per request (``PATH<TAB>BODY`` lines)."""
    env = dict(
        os.environ, BENCH_REQUESTS=str(requests), BENCH_AUTHORIZATION=authorization, BENCH_CONTENT_TYPE=content_type
    )
    command = [
        ensure_wrk(),
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(PATHS_LUA),
        url,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)  # noqa: S603
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    statuses = next(
        (x.removeprefix("BENCH_STATUSES").strip() for x in done.stdout.splitlines() if x.startswith("BENCH_STATUSES")),
        "",
    )
    if statuses:
        print(f"  non-2xx answers by status: {statuses}", flush=True)
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=sum(raw[k] for k in ("connect", "read", "write", "status", "timeout")),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
    )


def run_lifecycle(args) -> dict:
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-lifecycle-"))
    try:
        return _run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args, workdir: Path) -> dict:
    # Many integrations, so that requests still in flight never share one: concurrent changes to one integration
    # conflict on its version (a 503 for one of them), which is not what this measures.
    integrations = max(4 * args.connections, 500)
    print(
        f"\nlifecycle: building {args.revocations_pool} revocable tokens over {integrations} integrations ...",
        flush=True,
    )
    world = bulk_world(workdir, free_port(), tokens=args.revocations_pool, integrations=integrations, admin=True)
    ids = world.made["integrations"]
    # Revocations take tokens of even-numbered integrations; rotations the odd ones, whose tokens stay live.
    revocable = [t for n, t in enumerate(world.made["tokens"]) if (n % len(ids)) % 2 == 0]
    world.token_bodies("revoke", revocable)
    rotations = workdir / "rotate.requests"
    rotations.write_text(
        "".join(f"/api/integrations/{urllib.parse.quote(i)}/rotate\t" + '{"mode": "now"}\n' for i in ids[1::2])
    )
    revoke, rotate = Series("revoke (RFC 7009, token holder)"), Series("token generation (admin API rotate now)")
    server = world.server(workers=args.workers, threads=args.threads).start()
    try:
        revoke.results.append(
            run_wrk(
                server.url + "/oauth/revoke",
                duration=args.duration,
                connections=args.connections,
                bodies=world.bodies["revoke"],
            )
        )
        done = revoke.results[-1].requests
        revoke.note = f"{min(done, len(revocable))} distinct tokens revoked" + (
            f"; pool of {len(revocable)} ran out, the rest were repeats" if done > len(revocable) else ""
        )
        rotate.results.append(
            run_paths(
                server.url,
                rotations,
                duration=args.duration,
                connections=args.connections,
                authorization=world.admin_authorization,
                content_type="application/json",
            )
        )
        rotate.note = f"{rotate.results[-1].requests} tokens minted over {len(ids[1::2])} integrations in turn"
    finally:
        server.stop()
    print_table(
        f"lifecycle writes on `authserver serve --workers {args.workers} --threads {args.threads}`, "
        f"SQLite, wrk {args.connections} connections, {args.duration:g}s, one round (writes do not repeat)",
        [revoke, rotate],
    )
    return {"revoke": revoke.figures(), "token_generation": rotate.figures()}
