"""Introspection with 1,000 vs 1,000,000 token records in the database: the same 1,000 real tokens introspected
(a pool of distinct tokens, so each request is its own indexed read), once in a database holding only them and once
in a copy of it with 999,000 more rows. The two servers run in turn (A B, B A, ...), on SQLite and, when a local
PostgreSQL answers, on PostgreSQL too (throwaway databases, dropped afterwards).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from load import run_wrk
from processes import free_port
from report import Series, print_table
from worlds import BulkWorld, add_filler, bulk_world, copy_postgres_database, postgres_available, postgres_database

SMALL = 1000
WARMUP_SECONDS = 2.0


def _measure(world: BulkWorld, env: dict, series: Series, args) -> None:
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


def _compare(backend: str, world: BulkWorld, large_env: dict, records: int, args) -> dict:
    small = Series(f"{backend}: {SMALL:,} token records")
    large = Series(f"{backend}: {records:,} token records")
    for round_number in range(1, args.rounds + 1):
        print(f"  {backend} round {round_number}/{args.rounds}", flush=True)
        order = [(world.env, small), (large_env, large)]
        for env, series in order if round_number % 2 else reversed(order):
            _measure(world, env, series, args)
    ratio = large.median("p99_ms") / small.median("p99_ms") if small.median("p99_ms") else 0.0
    throughput = large.median("rps") / max(1.0, small.median("rps"))
    cpu = large.median("server_cpu_us") / max(1.0, small.median("server_cpu_us"))
    small.note = f"server CPU {small.median('server_cpu_us'):.0f} us/req"
    large.note = (
        f"server CPU {large.median('server_cpu_us'):.0f} us/req ({cpu:.2f}x); p99 {ratio:.2f}x the "
        f"{SMALL:,}-record figure; throughput {throughput:.2f}x"
    )
    print_table(
        f"introspection of {SMALL:,} distinct tokens by record count ({backend}), "
        f"`authserver serve --workers {args.workers} --threads {args.threads}`, wrk {args.connections} "
        f"connections, {args.duration:g}s x {args.rounds} rounds interleaved, medians",
        [small, large],
    )
    print(f"records_p99_ratio_{backend}: {ratio:.2f}")
    return {
        "small": small.figures(),
        "large": large.figures(),
        "records": records,
        "p99_ratio": ratio,
        "cpu_ratio": cpu,
    }


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
        _, large_url = stack.enter_context(copy_postgres_database(name))
        large_env = dict(world.env, DATABASE_URL=large_url)
        print(f"  postgresql: adding {args.records - SMALL:,} filler rows ...", flush=True)
        records = add_filler(large_env, args.records - SMALL)
        return _compare("postgresql", world, large_env, records, args)


def run_records(args) -> dict:
    figures = {}
    print(f"\nrecords: {SMALL:,} vs {args.records:,} token records", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-records-"))
    try:
        figures["sqlite"] = _sqlite(args, workdir / "sqlite")
        if args.postgres and postgres_available():
            figures["postgresql"] = _postgres(args, workdir / "postgresql")
        elif args.postgres:
            print("  postgresql skipped: nothing answers at the BENCH_POSTGRES_URL (default 127.0.0.1:5432)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures
