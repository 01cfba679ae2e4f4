"""The side-by-side step of ``run.py introspection``: our server, the peer and the bare hello ceiling, all three up at
once on their own loopback ports, measured in turn (A B C A B C ...) so drift on a shared machine hits each alike.

Our server runs as in production (``authserver serve``, activity tracking on) and introspects one active token; the
peer introspects its own opaque token, as one process and as a node ``cluster`` of one process per worker of ours
(the same cores). All are loaded by the same wrk command: 16 connections, the same Lua script,
one token repeated, Basic client authentication.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from load import Result, run_wrk
from processes import ServerProcess
from report import Series

from . import PeerUnavailableError, ensure_installed, start_peer

WARMUP_SECONDS = 2.0


@dataclass
class Target:
    """Something to load: a URL, the bodies to POST and the Authorization header to send."""

    series: Series
    server: ServerProcess
    url: str
    bodies: Path
    authorization: str


def _load(target: Target, *, duration: float, connections: int) -> Result:
    """One wrk run, with the server's CPU time per request (which, unlike throughput, hardly moves when other work
    competes for the cores)."""
    cpu = target.server.cpu_seconds()
    result = run_wrk(
        target.url, duration=duration, connections=connections, bodies=target.bodies, authorization=target.authorization
    )
    used = target.server.cpu_seconds() - cpu
    return replace(result, server_cpu_us=1e6 * used / result.requests if result.requests else 0.0)


def compare_with_peer(
    *,
    workdir: Path,
    ours: Callable[[], ServerProcess],
    hello: Callable[[], ServerProcess],
    our_bodies: Path,
    our_authorization: str,
    rounds: int,
    duration: float,
    connections: int,
    load_average: Callable[[], str],
    workers: int = 2,
) -> dict:
    """Measure, print a small table and the ratios, and return the figures. Stops everything it started."""
    try:
        version = ensure_installed()
    except PeerUnavailableError as exc:
        print(f"\npeer skipped: {exc}")
        return {}
    print(
        f"\nside by side with node-oidc-provider {version}: {rounds} rounds of A B C, {duration:g}s each "
        f"(load average {load_average()})",
        flush=True,
    )
    started: list = []
    try:
        our_server = ours().start()
        started.append(our_server)
        hello_server = hello().start()
        started.append(hello_server)
        peer = start_peer(workdir)
        started.append(peer)
        peer_cluster = start_peer(workdir, workers=workers)
        started.append(peer_cluster)
        targets = [
            Target(
                Series("authserver introspect active"),
                our_server,
                our_server.url + "/oauth/introspect",
                our_bodies,
                our_authorization,
            ),
            Target(
                Series(f"node-oidc-provider {version} introspect"),
                peer.server,
                peer.server.url + peer.introspection_path,
                peer.write_bodies(workdir / "peer.bodies"),
                peer.authorization,
            ),
            Target(
                Series(f"node-oidc-provider cluster x{workers} introspect"),
                peer_cluster.server,
                peer_cluster.server.url + peer_cluster.introspection_path,
                peer_cluster.write_bodies(workdir / "peer-cluster.bodies"),
                peer_cluster.authorization,
            ),
            Target(Series("hello (ceiling)"), hello_server, hello_server.url + "/hello", our_bodies, our_authorization),
        ]
        for target in targets:  # JIT and caches warm before the first measured round, for everyone alike
            _load(target, duration=WARMUP_SECONDS, connections=connections)
        for round_number in range(1, rounds + 1):
            print(f"  peer round {round_number}/{rounds} (load average {load_average()})", flush=True)
            # Rotate who goes first, so nobody always follows the same neighbour.
            shift = (round_number - 1) % len(targets)
            order = targets[shift:] + targets[:shift]
            for target in order:
                target.series.results.append(_load(target, duration=duration, connections=connections))
    finally:
        for running in reversed(started):
            running.stop()
    ours_series, peer_series, cluster_series, hello_series = (t.series for t in targets)
    print(
        f"\nside by side, wrk {connections} connections, {duration:g}s x {rounds} rounds interleaved, medians; "
        f"load average at end {load_average()}"
    )
    print(f"{'server':42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'errors':>7} {'CPU us/req':>10}")
    for series in (ours_series, peer_series, cluster_series, hello_series):
        print(
            f"{series.name:42} {series.median('rps'):8.0f} {series.median('p50_ms'):8.2f} "
            f"{series.median('p99_ms'):8.2f} {series.median('p999_ms'):9.2f} {series.errors:7d} "
            f"{series.median('server_cpu_us'):10.0f}"
        )
    ours_rps, hello_rps = ours_series.median("rps"), hello_series.median("rps")
    figures: dict = {
        "peer_version": version,
        "ours": ours_series.figures(),
        "peer": peer_series.figures(),
        "peer_cluster": cluster_series.figures(),
        "hello": hello_series.figures(),
        "ratio_vs_hello_side_by_side": ours_rps / hello_rps if hello_rps else 0.0,
    }
    for key, label, other in (
        ("", "the peer (one process)", peer_series),
        ("_cluster", f"the peer cluster x{workers}", cluster_series),
    ):
        figures.update(_ratios(ours_series, other, suffix=key))
        print(
            f"vs {label}: throughput {figures['ratio_vs_peer' + key]:.2f}x (per round: "
            f"{' '.join(f'{r:.2f}' for r in figures['ratio_vs_peer' + key + '_per_round'])}), "
            f"p99 {figures['p99_vs_peer' + key]:.2f}x ({ours_series.median('p99_ms'):.2f} vs "
            f"{other.median('p99_ms'):.2f} ms), cpu_ratio (their CPU/request over ours, >1 = we spend less) "
            f"{figures['cpu_ratio_vs_peer' + key]:.2f} ({other.median('server_cpu_us'):.0f} vs "
            f"{ours_series.median('server_cpu_us'):.0f} us)"
        )
    print(
        f"ceiling (hello) in the same rounds: ours is {figures['ratio_vs_hello_side_by_side']:.2f} of it; "
        f"the peer is {peer_series.median('rps') / hello_rps if hello_rps else 0:.2f} of it"
    )
    print(f"ratio_vs_peer_cluster: {figures['ratio_vs_peer_cluster']:.2f}")
    print(f"ratio_vs_peer: {figures['ratio_vs_peer']:.2f}")
    return figures


def _ratios(ours: Series, other: Series, *, suffix: str) -> dict:
    """Throughput, p99 and CPU ratios of ours against one peer row (medians, and throughput per round)."""
    ours_rps, other_rps = ours.median("rps"), other.median("rps")
    ours_cpu, other_cpu = ours.median("server_cpu_us"), other.median("server_cpu_us")
    other_p99 = other.median("p99_ms")
    return {
        f"ratio_vs_peer{suffix}": ours_rps / other_rps if other_rps else 0.0,
        f"ratio_vs_peer{suffix}_per_round": [
            a.rps / b.rps for a, b in zip(ours.results, other.results, strict=True) if b.rps
        ],
        f"p99_vs_peer{suffix}": ours.median("p99_ms") / other_p99 if other_p99 else 0.0,
        f"cpu_ratio_vs_peer{suffix}": other_cpu / ours_cpu if ours_cpu else 0.0,
    }
