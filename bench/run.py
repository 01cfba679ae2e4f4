"""The benchmark's single entry point. Starts what it measures, loads it from wrk on 127.0.0.1, stops it all.

    python bench/run.py introspection [--duration 10] [--connections 16] [--rounds 2] [--pool 1000]
    python bench/run.py stacks        [--duration 10] [--connections 16] [--rounds 2]
    python bench/run.py profile       [--requests 3000]
    python bench/run.py lifecycle     [--revocations-pool 5000]          (revocation, token generation)
    python bench/run.py records       [--records 1000000] [--no-postgres] [--no-sqlite]  (1,000 vs 1,000,000 records)
    python bench/run.py memory        [--memory-pool 10000] [--soak 60]    (10,000-token pool, RSS, soak)
    python bench/run.py peer          [--rounds 3]   (only the side by side with node-oidc-provider)
    python bench/run.py all           (every scenario above but stacks and profile, then bench/resource_demo.py)

``introspection``: RFC 7662 introspection on the production stack (``authserver serve``) of one active token
repeated, a pool of distinct active tokens, revoked tokens, garbage and forged (bad-signature) tokens; the same
with activity tracking off; and a bare "hello" endpoint on the same stack (the ceiling). Servers run one at a
time and rounds interleave them (A B C A B C), so drift on a shared machine hits every figure alike; medians
are printed. ``stacks``: the WSGI servers compared for production. ``profile``: pyinstrument over in-process
introspections (no HTTP server), for docs/performance.md.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lifecycle import run_lifecycle  # noqa: E402
from load import Result, ensure_wrk, run_wrk  # noqa: E402
from memory import run_memory  # noqa: E402
from peer.compare import compare_with_peer  # noqa: E402
from processes import ROOT, ServerProcess, free_port  # noqa: E402
from records import run_records  # noqa: E402
from stacks import STACKS  # noqa: E402

WARMUP_SECONDS = 2.0


# -- the world under test ---------------------------------------------------------------------------------------
@dataclass
class World:
    workdir: Path
    env: dict
    port: int
    client_id: str
    client_secret: str
    bodies: dict[str, Path] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)

    @property
    def authorization(self) -> str:
        raw = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return f"Basic {raw}"


def make_world(workdir: Path, *, pool: int, revoked: int) -> World:
    """A fresh database and keys, a resource-service client, and tokens, all made through the CLI."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'authserver.db'}",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
            "AUTHSERVER_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            # The benchmark measures the server, not its limiter (and builds its tokens faster than one account may).
            "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
            "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": "off",
            "PYTHONPATH": str(ROOT),
        }
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "world.py"), "--pool", str(pool), "--revoked", str(revoked)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"building the benchmark's tokens failed:\n{done.stderr[-3000:]}")
    made = json.loads(done.stdout)
    world = World(workdir=workdir, env=env, port=port, client_id=made["client_id"], client_secret=made["client_secret"])
    active = made["active"]
    header, payload, _ = active.split(".")
    other_signature = made["pool"][0].split(".")[2] if made["pool"] else "AAAA"
    tokens = {
        "active": [active],
        "pool": made["pool"] or [active],
        "revoked": made["revoked"],
        "garbage": [base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=") for _ in range(100)],
        # Well-formed, our kid and claims, another token's signature: the RSA check runs and fails every time.
        "forged": [f"{header}.{payload}.{other_signature}"],
    }
    for name, values in tokens.items():
        path = workdir / f"{name}.bodies"
        path.write_text("".join(f"{urllib.parse.urlencode({'token': value})}\n" for value in values))
        world.bodies[name] = path
        world.samples[name] = values[0]
    return world


def introspect_once(world: World, url: str, token: str) -> dict:
    request = urllib.request.Request(
        f"{url}/oauth/introspect",
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Authorization": world.authorization},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.load(response)


# -- servers ----------------------------------------------------------------------------------------------------
def authserver(world: World, *, workers: int, threads: int, tracking: bool) -> ServerProcess:
    env = dict(world.env, AUTHSERVER_ACTIVITY_TRACKING="on" if tracking else "off")
    argv = [
        sys.executable,
        "-m",
        "authserver",
        "serve",
        "--port",
        str(world.port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    return ServerProcess(argv, env, world.port, world.workdir / "server.log")


def hello(world: World, *, workers: int, threads: int) -> ServerProcess:
    argv = [
        sys.executable,
        str(ROOT / "bench" / "hello.py"),
        "--port",
        str(world.port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    return ServerProcess(argv, world.env, world.port, world.workdir / "hello.log", ready_path="/hello")


# -- measuring --------------------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    results: list[Result] = field(default_factory=list)
    rss: list[tuple[float, list[float]]] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.results)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)


def measure(server: ServerProcess, path: str, bodies: Path | None, world: World, args) -> Result:
    url = server.url + path
    run_wrk(
        url, duration=WARMUP_SECONDS, connections=args.connections, bodies=bodies, authorization=world.authorization
    )
    cpu = server.cpu_seconds()
    result = run_wrk(
        url, duration=args.duration, connections=args.connections, bodies=bodies, authorization=world.authorization
    )
    used = server.cpu_seconds() - cpu
    return dataclasses.replace(result, server_cpu_us=1e6 * used / result.requests if result.requests else 0.0)


def check_answers(world: World, url: str) -> None:
    """Before any load: each scenario's token gets the answer the scenario claims it gets."""
    expected = {"active": True, "pool": True, "revoked": False, "garbage": False, "forged": False}
    for name, active in expected.items():
        answer = introspect_once(world, url, world.samples[name])
        if answer.get("active") is not active:
            raise SystemExit(f"scenario {name!r}: expected active={active}, got {answer}")


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'scenario':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'errors':>7} "
        f"{'CPU us/req':>10} {'RSS MiB total (per worker)':>28}"
    )
    for row in rows:
        total, per_worker = max(row.rss, key=lambda r: r[0]) if row.rss else (0.0, [])
        workers = "/".join(f"{w:.0f}" for w in per_worker)
        print(
            f"{row.name:34} {row.median('rps'):8.0f} {row.median('p50_ms'):8.2f} {row.median('p99_ms'):8.2f} "
            f"{row.median('p999_ms'):9.2f} {row.errors:7d} {row.median('server_cpu_us'):10.0f} "
            f"{total:17.0f} ({workers})"
        )


def run_introspection(args) -> dict:
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    try:
        print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
        print(f"building {args.pool} pool tokens and {args.revoked} revoked ones through the CLI ...", flush=True)
        world = make_world(workdir, pool=args.pool, revoked=args.revoked)
        on_scenarios = ["active", "pool", "revoked", "garbage", "forged"]
        rows = {f"introspect {name}": Row(f"introspect {name}") for name in on_scenarios}
        rows |= {
            f"introspect {name}, tracking off": Row(f"introspect {name}, tracking off") for name in ("active", "pool")
        }
        rows["hello (ceiling)"] = Row("hello (ceiling)")
        stack = dict(workers=args.workers, threads=args.threads)
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds} (load average {load_average()})", flush=True)
            server = authserver(world, tracking=True, **stack).start()
            try:
                check_answers(world, server.url)
                for name in on_scenarios:
                    row = rows[f"introspect {name}"]
                    row.results.append(measure(server, "/oauth/introspect", world.bodies[name], world, args))
                    row.rss.append(server.rss_mib())
            finally:
                server.stop()
            server = authserver(world, tracking=False, **stack).start()
            try:
                for name in ("active", "pool"):
                    row = rows[f"introspect {name}, tracking off"]
                    row.results.append(measure(server, "/oauth/introspect", world.bodies[name], world, args))
                    row.rss.append(server.rss_mib())
            finally:
                server.stop()
            server = hello(world, **stack).start()
            try:
                row = rows["hello (ceiling)"]
                row.results.append(measure(server, "/hello", world.bodies["active"], world, args))
                row.rss.append(server.rss_mib())
            finally:
                server.stop()
        title = (
            f"introspection: `authserver serve --workers {args.workers} --threads {args.threads}` (granian), "
            f"wrk {args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians; "
            f"pool of {args.pool} tokens; load average at end {load_average()}"
        )
        print_table(list(rows.values()), title)
        summary = {}
        for name in ("active", "pool"):
            on, off = rows[f"introspect {name}"], rows[f"introspect {name}, tracking off"]
            cpu_on, cpu_off = on.median("server_cpu_us"), off.median("server_cpu_us")
            # Throughput is capacity / CPU per request once the server is the bottleneck, so the CPU ratio is the
            # throughput cost, measured in a way other work on the machine hardly disturbs.
            summary[f"tracking_cost_{name}"] = 1 - cpu_off / cpu_on if cpu_on else 0.0
            print(
                f"activity tracking, {name}: on {on.median('rps'):.0f} req/s at {cpu_on:.0f} us CPU/req, off "
                f"{off.median('rps'):.0f} req/s at {cpu_off:.0f} us CPU/req -> costs "
                f"{100 * summary[f'tracking_cost_{name}']:.1f}% of throughput (by server CPU per request)"
            )
        ceiling, ours = rows["hello (ceiling)"], rows["introspect active"]
        summary["ratio_vs_hello"] = ours.median("rps") / ceiling.median("rps") if ceiling.median("rps") else 0.0
        summary["cpu_ratio_vs_hello"] = (
            ceiling.median("server_cpu_us") / ours.median("server_cpu_us") if ours.median("server_cpu_us") else 0.0
        )
        print(
            f"ratio_vs_hello (throughput): {summary['ratio_vs_hello']:.2f}; "
            f"by server CPU per request: {summary['cpu_ratio_vs_hello']:.2f}"
        )
        summary["rows"] = {
            row.name: {
                "rps": row.median("rps"),
                "cpu_us": row.median("server_cpu_us"),
                "p50_ms": row.median("p50_ms"),
                "p99_ms": row.median("p99_ms"),
                "p999_ms": row.median("p999_ms"),
                "errors": row.errors,
                "rss_mib": max(row.rss)[0] if row.rss else None,
            }
            for row in rows.values()
        }
        if args.peer:  # last, so that `ratio_vs_peer: X.XX` is among the final lines
            summary["peer"] = side_by_side(world, args)
        return summary
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def side_by_side(world: World, args) -> dict:
    """Our server (production settings, tracking on), the peer and hello, interleaved: ends with ratio_vs_peer."""
    stack = dict(workers=args.workers, threads=args.threads)
    return compare_with_peer(
        workdir=world.workdir,
        ours=lambda: authserver(world, tracking=True, **stack),
        hello=lambda: hello(replace(world, port=free_port()), **stack),
        our_bodies=world.bodies["active"],
        our_authorization=world.authorization,
        rounds=max(3, args.rounds),
        duration=args.duration,
        connections=args.connections,
        load_average=load_average,
        workers=args.workers,
    )


def run_stacks(args) -> dict:
    """Introspection of one active token (tracking off: this isolates the server) and hello, per WSGI server."""
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    try:
        print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
        world = make_world(workdir, pool=0, revoked=1)
        env = dict(world.env, AUTHSERVER_ACTIVITY_TRACKING="off")
        rows: dict[str, Row] = {}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds} (load average {load_average()})", flush=True)
            for stack, command in STACKS.items():
                for target, path, ready in (
                    ("app:app", "/oauth/introspect", "/.well-known/oauth-authorization-server"),
                    ("bench.hello:app", "/hello", "/hello"),
                ):
                    server = ServerProcess(
                        command(target, world.port, args.workers),
                        env,
                        world.port,
                        workdir / f"{stack}.log",
                        ready_path=ready,
                    ).start()
                    try:
                        name = f"{stack} {'introspect' if path != '/hello' else 'hello'}"
                        row = rows.setdefault(name, Row(name))
                        row.results.append(measure(server, path, world.bodies["active"], world, args))
                        row.rss.append(server.rss_mib())
                    finally:
                        server.stop()
        print_table(
            list(rows.values()),
            f"serving stacks, {args.workers} workers where the stack has them, "
            f"wrk {args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians; "
            f"load average at end {load_average()}",
        )
        return {name: {"rps": row.median("rps"), "p99_ms": row.median("p99_ms")} for name, row in rows.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_profile(args) -> dict:
    """pyinstrument over introspections through the Flask test client: where the time goes, without HTTP noise."""
    workdir = Path(tempfile.mkdtemp(prefix="authserver-profile-"))
    try:
        world = make_world(workdir, pool=0, revoked=1)
        env = dict(
            world.env,
            BENCH_PROFILE_REQUESTS=str(args.requests),
            BENCH_TOKEN=world.samples["active"],
            BENCH_AUTHORIZATION=world.authorization,
        )
        subprocess.run([sys.executable, str(ROOT / "bench" / "profile_introspection.py")], env=env, check=True)
        return {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_peer(args) -> dict:
    """Only the side-by-side with node-oidc-provider (A B C rounds): the quick check of ``ratio_vs_peer``."""
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    try:
        print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
        return side_by_side(make_world(workdir, pool=0, revoked=1), args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(args) -> dict:
    """Every figure of issue 9: the write paths, record counts, memory, resource_demo, and introspection with the
    peer last (so that ``ratio_vs_peer`` is among the final lines)."""
    figures = {"lifecycle": run_lifecycle(args), "records": run_records(args), "memory": run_memory(args)}
    print("\nresource_demo (bench/resource_demo.py) ...", flush=True)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "resource_demo.py"), "--duration", f"{args.duration:g}"],  # noqa: S603
        check=False,
    )
    figures["introspection"] = run_introspection(args)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "scenario", choices=["introspection", "stacks", "profile", "lifecycle", "records", "memory", "peer", "all"]
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (after a 2 s warm-up)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pool", type=int, default=1000, help="distinct active tokens in the pool scenario")
    parser.add_argument("--revoked", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000, help="profile: introspections to sample")
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="introspection: also measure node-oidc-provider side by side (npm, bench/peer)",
    )
    parser.add_argument("--revocations-pool", type=int, default=5000, help="lifecycle: tokens made to be revoked")
    parser.add_argument("--records", type=int, default=1_000_000, help="records: the large table's row count")
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="records: also on a throwaway database of the local PostgreSQL, when one answers",
    )
    parser.add_argument(
        "--sqlite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="records: on SQLite (--no-sqlite --postgres: only the PostgreSQL figures and their ratios to the peer)",
    )
    parser.add_argument("--memory-pool", type=int, default=10_000, help="memory: distinct active tokens")
    parser.add_argument("--soak", type=float, default=60.0, help="memory: soak seconds (the issue's figure: 600)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    runner = {
        "introspection": run_introspection,
        "stacks": run_stacks,
        "profile": run_profile,
        "lifecycle": run_lifecycle,
        "records": run_records,
        "memory": run_memory,
        "peer": run_peer,
        "all": run_all,
    }[args.scenario]
    figures = runner(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
