"""Default rate limits against limits off: does a resource service introspecting at full speed get throttled?

    python bench/limits.py [--duration 10] [--rounds 3] [--connections 16] [--workers N] [--pool 1000]

One resource-service client posts a pool of distinct active tokens from wrk over ``--connections`` keep-alive
connections, as fast as the server answers, to ``authserver serve`` started twice per round: with the default
limits (``AUTHSERVER_RATE_LIMIT_INTROSPECTION`` unset) and with limits off. Rounds interleave the two and swap
their order each round (A B, B A, ...), so drift on a shared machine hits both alike. Prints the medians, every
refusal (a 429 counts as an error, not as throughput), and the ratio default / off, which should be 1 within noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import Result, ensure_wrk, run_wrk  # noqa: E402
from processes import free_port  # noqa: E402
from report import Series  # noqa: E402
from worlds import bulk_world  # noqa: E402

WARMUP_SECONDS = 2.0
LIMIT = "AUTHSERVER_RATE_LIMIT_INTROSPECTION"


def answered(result: Result) -> float:
    """Requests answered 200 per second: refusals (429) and failures are not throughput."""
    return (result.requests - result.errors) / result.seconds if result.seconds else 0.0


def run(args) -> dict:
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-limits-"))
    try:
        print(f"building {args.pool:,} tokens ...", flush=True)
        world = bulk_world(workdir, free_port(), tokens=args.pool, integrations=10)
        bodies = world.token_bodies("pool", world.made["tokens"])
        default_env = {k: v for k, v in world.env.items() if k != LIMIT}  # the shipped default applies
        off_env = dict(world.env, **{LIMIT: "off"})
        series = {"default": Series("introspect pool, default limits"), "off": Series("introspect pool, limits off")}
        for number in range(args.rounds):
            order = ["default", "off"] if number % 2 == 0 else ["off", "default"]
            for name in order:
                world.env = default_env if name == "default" else off_env
                server = world.server(workers=args.workers, threads=args.threads, log=f"server-{name}.log").start()
                try:
                    url = server.url + "/oauth/introspect"
                    common = dict(connections=args.connections, bodies=bodies, authorization=world.authorization)
                    run_wrk(url, duration=WARMUP_SECONDS, **common)
                    result = run_wrk(url, duration=args.duration, **common)
                finally:
                    server.stop()
                series[name].results.append(result)
                print(
                    f"round {number + 1}/{args.rounds} {name:7}: {answered(result):8.0f} answered/s, "
                    f"{result.errors} refused or failed of {result.requests}",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    default = statistics.median(answered(r) for r in series["default"].results)
    off = statistics.median(answered(r) for r in series["off"].results)
    print(
        f"\nintrospection, one resource-service client at full speed, `authserver serve --workers {args.workers}`, "
        f"wrk {args.connections} connections, {args.duration:g}s x {args.rounds} rounds (medians):"
    )
    for name, figure in (("default", default), ("off", off)):
        s = series[name]
        print(f"  {s.name:36} {figure:8.0f} answered/s   p99 {s.median('p99_ms'):6.2f} ms   refused {s.errors}")
    ratio = default / off if off else 0.0
    print(f"  ratio default / off: {ratio:.3f}")
    return {"default_rps": default, "off_rps": off, "ratio": ratio, "refused_default": series["default"].errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (after a 2 s warm-up)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pool", type=int, default=1000, help="distinct active tokens")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=8)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
