"""Introspection with 1,000 vs 1,000,000 token records in the database: the same 1,000 real tokens introspected
(a pool of distinct tokens, so each request is its own indexed read), once in a database holding only them and once
in a copy of it with 999,000 more rows. The two servers run in turn (A B, B A, ...), on SQLite and, when a local
PostgreSQL answers, on PostgreSQL too (throwaway databases, dropped afterwards).

On PostgreSQL the servers run as the documented production setup does, with Redis on (when one answers at
BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; a throwaway key prefix), and node-oidc-provider is measured in the
same rounds (A B C), so the PostgreSQL figures end with their ratios to the peer (issue 19). The peer introspects one
opaque token of its own in memory; ours introspect 1,000 distinct tokens, each its own indexed read. The
introspection limit is left at the server's default there (counted in Redis by leases), as in production.

Before the PostgreSQL rounds both databases are settled (vacuumed and checkpointed: bench/postgres_state.py), and
each measurement counts the checkpoints it overlapped; the per-round lines show them beside each p99.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import redis
from load import run_wrk
from peer import PeerUnavailableError, start_peer
from postgres_state import CheckpointWatch, load_average, server_settings, settle
from processes import free_port
from report import Series, print_table
from worlds import BulkWorld, add_filler, bulk_world, copy_postgres_database, postgres_available, postgres_database

SMALL = 1000
WARMUP_SECONDS = 2.0


def _measure(world: BulkWorld, env: dict, series: Series, args, watch) -> str:
    server = world.server(workers=args.workers, threads=args.threads, DATABASE_URL=env["DATABASE_URL"]).start()
    try:
        url = server.url + "/oauth/introspect"
        run_wrk(
            url,
            duration=WARMUP_SECONDS,
            connections=args.connections,
            bodies=world.bodies["pool"],
            authorization=world.authorization,
        )
        cpu = server.cpu_seconds()
        with watch() as watching:
            result = run_wrk(
                url,
                duration=args.duration,
                connections=args.connections,
                bodies=world.bodies["pool"],
                authorization=world.authorization,
            )
        used = server.cpu_seconds() - cpu
        series.results.append(replace(result, server_cpu_us=1e6 * used / result.requests if result.requests else 0))
    finally:
        server.stop()
    return _round_line(series, result, watching)


def _measure_peer(peer, bodies: Path, series: Series, args, watch) -> str:
    url = peer.server.url + peer.introspection_path
    run_wrk(url, duration=WARMUP_SECONDS, connections=args.connections, bodies=bodies, authorization=peer.authorization)
    cpu = peer.server.cpu_seconds()
    with watch() as watching:
        result = run_wrk(
            url, duration=args.duration, connections=args.connections, bodies=bodies, authorization=peer.authorization
        )
    used = peer.server.cpu_seconds() - cpu
    series.results.append(replace(result, server_cpu_us=1e6 * used / result.requests if result.requests else 0))
    return _round_line(series, result, watching)


class _NoWatch:
    """SQLite: no server whose checkpoints could be counted."""

    seen = None

    def __enter__(self) -> _NoWatch:
        return self

    def __exit__(self, *exc_info) -> None:
        pass


def _round_line(series: Series, result, watching) -> str:
    line = f"    {series.name}: {result.rps:.0f} req/s, p99 {result.p99_ms:.2f} ms, p99.9 {result.p999_ms:.2f} ms"
    return line if watching.seen is None else f"{line}; checkpoints meanwhile: {watching.seen}"


def _compare(backend: str, world: BulkWorld, large_env: dict, records: int, args, peer=None) -> dict:
    small = Series(f"{backend}: {SMALL:,} token records")
    large = Series(f"{backend}: {records:,} token records")
    peer_series = Series("node-oidc-provider (one process)") if peer is not None else None
    peer_bodies = peer.write_bodies(world.workdir / "peer.bodies") if peer is not None else None
    watch = CheckpointWatch if backend == "postgresql" else _NoWatch
    for round_number in range(1, args.rounds + 1):
        print(f"  {backend} round {round_number}/{args.rounds} (load average {load_average()})", flush=True)
        order = [(world.env, small), (large_env, large)]
        for env, series in order if round_number % 2 else reversed(order):
            print(_measure(world, env, series, args, watch), flush=True)
        if peer is not None and peer_series is not None and peer_bodies is not None:
            print(_measure_peer(peer, peer_bodies, peer_series, args, watch), flush=True)
    ratio = large.median("p99_ms") / small.median("p99_ms") if small.median("p99_ms") else 0.0
    throughput = large.median("rps") / max(1.0, small.median("rps"))
    cpu = large.median("server_cpu_us") / max(1.0, small.median("server_cpu_us"))
    small.note = f"server CPU {small.median('server_cpu_us'):.0f} us/req"
    large.note = (
        f"server CPU {large.median('server_cpu_us'):.0f} us/req ({cpu:.2f}x); p99 {ratio:.2f}x the "
        f"{SMALL:,}-record figure; throughput {throughput:.2f}x"
    )
    figures = {
        "small": small.figures(),
        "large": large.figures(),
        "records": records,
        "p99_ratio": ratio,
        "cpu_ratio": cpu,
    }
    if peer_series is not None:
        peer_series.note = f"server CPU {peer_series.median('server_cpu_us'):.0f} us/req (one token, in memory)"
    print_table(
        f"introspection of {SMALL:,} distinct tokens by record count ({backend}), "
        f"`authserver serve --workers {args.workers} --threads {args.threads}`, wrk {args.connections} "
        f"connections, {args.duration:g}s x {args.rounds} rounds interleaved, medians",
        [small, large] if peer_series is None else [small, large, peer_series],
    )
    print(f"records_p99_ratio_{backend}: {ratio:.2f} (load average at the end {load_average()})")
    if peer_series is not None and peer_series.median("rps"):
        figures["peer"] = peer_series.figures()
        for label, ours in (("small", small), ("large", large)):
            figures[f"ratio_vs_peer_{label}"] = ours.median("rps") / peer_series.median("rps")
            figures[f"p99_vs_peer_{label}"] = ours.median("p99_ms") / max(0.001, peer_series.median("p99_ms"))
            figures[f"cpu_ratio_vs_peer_{label}"] = peer_series.median("server_cpu_us") / max(
                1.0, ours.median("server_cpu_us")
            )
        print(
            f"{backend} vs the peer ({SMALL:,} records / {records:,} records): throughput "
            f"{figures['ratio_vs_peer_small']:.2f}x / {figures['ratio_vs_peer_large']:.2f}x, p99 "
            f"{figures['p99_vs_peer_small']:.2f}x / {figures['p99_vs_peer_large']:.2f}x, cpu_ratio (peer CPU over "
            f"ours, >1 = we spend less) {figures['cpu_ratio_vs_peer_small']:.2f} / "
            f"{figures['cpu_ratio_vs_peer_large']:.2f}"
        )
        print(f"{backend}_ratio_vs_peer: {figures['ratio_vs_peer_small']:.2f}")
    return figures


def _sqlite(args, workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    world = bulk_world(workdir, free_port(), tokens=SMALL, integrations=10)
    world.token_bodies("pool", world.made["tokens"])
    large = workdir / "large"
    large.mkdir()
    for suffix in ("", "-wal", "-shm"):
        source = workdir / f"authserver.db{suffix}"
        if source.exists():
            shutil.copy2(source, large / source.name)
    large_env = dict(world.env, DATABASE_URL=f"sqlite:///{large / 'authserver.db'}")
    print(f"  sqlite: adding {args.records - SMALL:,} filler rows ...", flush=True)
    records = add_filler(large_env, args.records - SMALL)
    return _compare("sqlite", world, large_env, records, args)


def _postgres(args, workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        name, url = stack.enter_context(postgres_database())
        world = bulk_world(workdir, free_port(), tokens=SMALL, integrations=10, database_url=url)
        world.token_bodies("pool", world.made["tokens"])
        redis_url = _redis_url()
        if redis_url is not None:  # production: Redis on (rate-limit counters, event fan-out, staged activity)
            world.env.update({"REDIS_URL": redis_url, "AUTHSERVER_REDIS_PREFIX": f"bench-{secrets.token_hex(4)}"})
            world.env.pop("AUTHSERVER_RATE_LIMIT_INTROSPECTION")  # the default limit, leased from Redis
        else:
            print("  postgresql: no Redis answers at BENCH_REDIS_URL; measuring without it", flush=True)
        large_name, large_url = stack.enter_context(copy_postgres_database(name))
        large_env = dict(world.env, DATABASE_URL=large_url)
        print(f"  postgresql: adding {args.records - SMALL:,} filler rows ...", flush=True)
        records = add_filler(large_env, args.records - SMALL)
        print(f"  {server_settings()}", flush=True)
        for database in (name, large_name):
            settle(database)
        peer = _start_peer(workdir) if args.peer else None
        if peer is not None:
            stack.callback(peer.stop)
        figures = _compare("postgresql", world, large_env, records, args, peer=peer)
        figures["redis"] = redis_url is not None
        return figures


def _redis_url() -> str | None:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"; the run says so and goes on
        return None
    return url


def _start_peer(workdir: Path):
    try:
        return start_peer(workdir)
    except PeerUnavailableError as exc:
        print(f"  peer skipped: {exc}")
        return None


def run_records(args) -> dict:
    figures = {}
    print(f"\nrecords: {SMALL:,} vs {args.records:,} token records", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-records-"))
    try:
        if getattr(args, "sqlite", True):
            figures["sqlite"] = _sqlite(args, workdir / "sqlite")
        if args.postgres and postgres_available():
            figures["postgresql"] = _postgres(args, workdir / "postgresql")
        elif args.postgres:
            print("  postgresql skipped: nothing answers at the BENCH_POSTGRES_URL (default 127.0.0.1:5432)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures
