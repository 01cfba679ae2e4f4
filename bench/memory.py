"""Introspection of a pool of 10,000 distinct active tokens, the server's resident memory per worker under it, and a
soak: the same load for ``--soak`` seconds (600 for the issue's 10 minutes), memory sampled as it goes, each sample
split by kind (anonymous, file-backed, shared: ``rss.py``). The verdict is the growth over the last 5 minutes (or
the second half of a shorter soak): under 5% passes. A leak shows as growth that goes on; caches filling show as
growth that stops.

The pool's latency is judged against one token repeated, measured in the same run, server and rounds (issue 19:
the pool's p99 at most 2x the one token's): each round measures both, in alternating order, and the p99 ratio is
printed per round and over the medians.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from load import run_wrk
from processes import free_port
from report import Series, print_table
from rss import Sample, sample
from rss import growth as growth_of
from worlds import bulk_world

WARMUP_SECONDS = 2.0


def _per_worker(rss: tuple[float, list[float]]) -> str:
    return "/".join(f"{w:.1f}" for w in rss[1])


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_memory(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-memory-"))
    started_load = _load_average()
    try:
        print(f"\nmemory: building {args.memory_pool:,} tokens ...", flush=True)
        world = bulk_world(workdir, free_port(), tokens=args.memory_pool, integrations=100)
        world.token_bodies("pool", world.made["tokens"])
        world.token_bodies("one", world.made["tokens"][:1])
        server = world.server(workers=args.workers, threads=args.threads).start()
        url = server.url + "/oauth/introspect"
        pool = Series(f"introspect pool of {args.memory_pool:,} tokens")
        one = Series("introspect one token repeated (same rounds)")
        soak = Series(f"soak, pool of {args.memory_pool:,}, {args.soak:g}s")
        samples: list[tuple[float, tuple[float, list[float]]]] = []
        kinds: list[Sample] = []
        try:
            idle = server.rss_mib()
            # One pass over every token first, so each worker's caches hold the whole pool before anything is read.
            run_wrk(
                url,
                duration=WARMUP_SECONDS + args.memory_pool / 2000,
                connections=args.connections,
                bodies=world.bodies["pool"],
                authorization=world.authorization,
            )
            for round_number in range(args.rounds):
                order = [(pool, "pool"), (one, "one")]
                for series, bodies in order if round_number % 2 == 0 else reversed(order):
                    series.results.append(
                        run_wrk(
                            url,
                            duration=args.duration,
                            connections=args.connections,
                            bodies=world.bodies[bodies],
                            authorization=world.authorization,
                        )
                    )
            under_load = server.rss_mib()
            chunk = max(5.0, min(30.0, args.soak / 10))
            started = time.monotonic()
            while time.monotonic() - started < args.soak:
                soak.results.append(
                    run_wrk(
                        url,
                        duration=chunk,
                        connections=args.connections,
                        bodies=world.bodies["pool"],
                        authorization=world.authorization,
                    )
                )
                samples.append((time.monotonic() - started, server.rss_mib()))
                kinds.append(sample(server.proc.pid, samples[-1][0]))
                print(f"  soak {kinds[-1].line()}", flush=True)
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    first, last = samples[0][1], samples[-1][1]
    growth = [b - a for a, b in zip(first[1], last[1], strict=False)]
    pool.note = f"RSS per worker {_per_worker(under_load)} MiB (idle {_per_worker(idle)})"
    soak.note = (
        f"RSS per worker {_per_worker(first)} -> {_per_worker(last)} MiB over {samples[-1][0]:.0f}s "
        f"({len(samples)} samples)"
    )
    print_table(
        f"memory: `authserver serve --workers {args.workers} --threads {args.threads}`, SQLite, wrk "
        f"{args.connections} connections; pool {args.duration:g}s x {args.rounds}, soak in "
        f"{len(samples)} chunks, medians; load average {started_load} at start, {_load_average()} at end",
        [pool, one, soak],
    )
    ratio = pool.median("p99_ms") / one.median("p99_ms") if one.median("p99_ms") else 0.0
    rounds = [a.p99_ms / b.p99_ms for a, b in zip(pool.results, one.results, strict=True) if b.p99_ms]
    print(
        f"p99 pool of {args.memory_pool:,} / one token: {ratio:.2f} (medians {pool.median('p99_ms'):.2f} / "
        f"{one.median('p99_ms'):.2f} ms; rounds {' '.join(f'{r:.2f}' for r in rounds)}; target at most 2)"
    )
    print("soak RSS per worker (MiB): " + ", ".join(f"{t:.0f}s {_per_worker(rss)}" for t, rss in samples))
    print(f"soak_rss_growth_mib_per_worker: {' '.join(f'{g:+.1f}' for g in growth)}")
    print("soak RSS per worker by kind (MiB):")
    for found in kinds:
        print(f"  {found.line()}")
    verdict = growth_of(kinds)
    print(verdict.verdict())
    return {
        "pool": pool.figures(),
        "one_token": one.figures(),
        "p99_ratio_pool_to_one": ratio,
        "soak": soak.figures(),
        "rss_idle_mib": idle[1],
        "rss_under_load_mib": under_load[1],
        "soak_samples": [(t, rss[1]) for t, rss in samples],
        "soak_growth_mib": growth,
        "soak_kinds_mib": [(s.seconds, list(s.workers.values())) for s in kinds],
        "soak_late_growth": {"seconds": verdict.window, "per_worker": list(verdict.per_worker.values())},
        "soak_flat": verdict.passed,
    }
