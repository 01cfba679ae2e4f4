"""Thread CPU of one activity flush of many distinct tokens, in process; optionally A/B against another checkout.

    python bench/activity_flush_cpu.py [--tokens 3000] [--rounds 7] [--postgres]
    python bench/activity_flush_cpu.py --against /path/to/other/checkout   # A/B, interleaved processes

Why: a worker serving a pool of 10,000 tokens flushes the uses of 2,000 to 4,000 of them every 2 s, and its request
threads stall while the flush holds the GIL (docs/performance-log.md, 2026-12-07 session 6). One app on a file
SQLite database (WAL, as served) or a throwaway PostgreSQL database (``--postgres``: made and dropped on the server
``BENCH_POSTGRES_URL`` names, by default the local one), ``--tokens`` token rows of one integration; each
round records one use of every token (over two whole seconds: the server's clock gives whole seconds) and times
``activity.flush`` with ``time.thread_time`` (the flushing thread's CPU: a shared machine's wait for a CPU is not
counted). The first
round creates the day's count rows (inserts), later rounds add to them (the steady state); both are printed.
Beside the whole, the part spent outside the driver's statements and its commit (``before_cursor_execute`` to
``after_cursor_execute``, the connection's ``commit`` event to the session's ``after_commit``): Python that holds
the GIL throughout. Inside a call, sqlite3 lets go of the GIL around each row it steps but holds it to bind the
next row's parameters, so for a row-by-row flush this part understates the GIL-holding time.

``--probe`` adds what a request thread of the same process feels: a thread that runs ~50 µs of Python and then lets
go of the GIL (as a request does at each SQLite step), over and over; during each flush, its longest gap between
two turns and its gaps over 5 ms (the interpreter's switch interval) are counted, and the same right after the
flush for as long as the flush took (the main thread asleep: the machine's own stalls, the baseline). Wall time:
it shows the machine's load as well as the flush, so read it only against that baseline, as an A/B of interleaved
processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve()


POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The URL of an empty database made for this process, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"authserver_flushbench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Probe(threading.Thread):
    """Stands for a request thread: short turns of Python, the GIL let go between them; records the gaps."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.gaps: list[float] = []
        self.recording = False
        self.stopped = threading.Event()

    def run(self) -> None:
        last = time.perf_counter()
        while not self.stopped.is_set():
            sum(range(1000))  # ~50 µs of Python
            time.sleep(0)  # lets go of the GIL, as a request's SQLite step does
            now = time.perf_counter()
            if self.recording:
                self.gaps.append(now - last)
            last = now

    def take(self) -> list[float]:
        gaps, self.gaps = self.gaps, []
        return gaps


def measure(root: Path, tokens: int, rounds: int, postgres: bool, probe: bool = False) -> dict[str, list[float]]:
    """Per flush, one per round (the first one inserts the day's count rows): ms of thread CPU, the part of it
    outside the driver's calls, and with ``probe`` the probe thread's longest gap (ms) and its gaps over 5 ms."""
    sys.path.insert(0, str(root))
    logging.disable(logging.WARNING)
    from sqlalchemy import event, insert
    from sqlalchemy.orm import Session

    from authserver import create_app
    from authserver.accounts import create_account
    from authserver.activity import ActivityBuffer, flush
    from authserver.database import prepare
    from authserver.extensions import db
    from authserver.integrations import create_integration
    from authserver.models import AccessToken
    from authserver.principals import OPERATOR
    from authserver.services import services
    from authserver.unit_of_work import unit_of_work

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        database_url = stack.enter_context(throwaway_postgres()) if postgres else None
        (workdir / "keys").mkdir(mode=0o700)
        app = create_app(
            {
                "INSTANCE_PATH": workdir / "instance",
                "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{workdir / 'authserver.db'}",
                "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
                "AUTHSERVER_ISSUER": "http://127.0.0.1:5000",
                "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,
                "SECRET_KEY": "bench-secret-key",
            }
        )
        prepare(app)
        timings: list[float] = []
        outside: list[float] = []
        longest: list[float] = []
        stalls: list[float] = []
        idle_stalls: list[float] = []
        prober = Probe()
        in_driver = [0.0, 0.0]  # CPU inside driver calls so far, and when the current one started

        def before(*_args: object) -> None:
            in_driver[1] = time.thread_time()

        def after(*_args: object) -> None:
            in_driver[0] += time.thread_time() - in_driver[1]

        with app.app_context():
            now = services(app).clock.now()
            with unit_of_work():
                account = create_account(OPERATOR, name="Bench", parent_id=None, now=now)
                integration = create_integration(
                    OPERATOR, account_id=account.id, name="i", description="", scopes=["contacts.readonly"], now=now
                )
            jtis = [f"tok_bench_{number:06d}" for number in range(tokens)]
            row = {
                "integration_id": integration.id,
                "account_id": account.id,
                "kid": "k",
                "scopes": "contacts.readonly",
            }
            row |= {"issued_at": now, "expires_at": now + timedelta(days=1)}
            db.session.execute(insert(AccessToken), [{"jti": jti, **row} for jti in jtis])
            db.session.commit()
            buffer = ActivityBuffer()
            event.listen(db.engine, "before_cursor_execute", before)
            event.listen(db.engine, "after_cursor_execute", after)
            event.listen(db.engine, "commit", before)
            event.listen(Session, "after_commit", after)
            if probe:
                prober.start()
                time.sleep(0.2)
            for round_ in range(rounds):
                base = now + timedelta(seconds=2 * round_)
                for number, jti in enumerate(jtis):
                    buffer.record(jti, "cli_bench", base + timedelta(seconds=2 * number // tokens))
                in_driver[0] = 0.0
                prober.recording = True
                wall, started = time.perf_counter(), time.thread_time()
                flush(buffer)
                timings.append(1e3 * (time.thread_time() - started))
                wall = time.perf_counter() - wall
                prober.recording = False
                outside.append(timings[-1] - 1e3 * in_driver[0])
                gaps = prober.take()
                longest.append(1e3 * max(gaps, default=0.0))
                stalls.append(float(sum(gap > 0.005 for gap in gaps)))
                if probe:
                    prober.recording = True
                    time.sleep(wall)
                    prober.recording = False
                    idle_stalls.append(float(sum(gap > 0.005 for gap in prober.take())))
            prober.stopped.set()
            db.session.remove()
            db.engine.dispose()
    found = {"ms_cpu_per_flush": timings, "ms_cpu_outside_driver": outside}
    if probe:
        found |= {"probe_longest_gap_ms": longest, "probe_gaps_over_5ms": stalls, "idle_gaps_over_5ms": idle_stalls}
    return found


def summary(values: list[float]) -> str:
    steady = values[1:] or values
    return (
        f"first (inserts) {values[0]:6.1f}  steady median {statistics.median(steady):6.1f}  lowest {min(steady):6.1f}"
        f" ms  rounds {' '.join(f'{v:.1f}' for v in values)}"
    )


def compare(other: Path, tokens: int, rounds: int, processes: int, postgres: bool, probe: bool) -> None:
    here = HERE.parents[1]
    figures: dict[str, list[list[float]]] = {"this checkout": [], "other": []}
    outside: dict[str, list[float]] = {"this checkout": [], "other": []}
    longest: dict[str, list[float]] = {"this checkout": [], "other": []}
    stalls: dict[str, list[float]] = {"this checkout": [], "other": []}
    idle: dict[str, list[float]] = {"this checkout": [], "other": []}
    for index in range(processes):
        order = [("this checkout", here), ("other", other)]
        if index % 2:
            order.reverse()
        for name, root in order:
            command = [sys.executable, str(HERE), "--root", str(root), "--tokens", str(tokens)]
            command += ["--rounds", str(rounds), "--json"]
            if postgres:
                command.append("--postgres")
            if probe:
                command.append("--probe")
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"{root}: exit {done.returncode}\n{done.stderr[-3000:]}")
            found = json.loads(done.stdout)
            figures[name].append(found["ms_cpu_per_flush"])
            outside[name] += found["ms_cpu_outside_driver"][1:]
            longest[name] += found.get("probe_longest_gap_ms", [])[1:]
            stalls[name] += found.get("probe_gaps_over_5ms", [])[1:]
            idle[name] += found.get("idle_gaps_over_5ms", [])[1:]
    steady = {name: [v for run in runs for v in run[1:]] for name, runs in figures.items()}
    for name, values in steady.items():
        first = [run[0] for run in figures[name]]
        print(
            f"{name:14} steady median {statistics.median(values):6.1f}  lowest {min(values):6.1f} ms CPU per flush"
            f" of {tokens:,} tokens; first (inserts) median {statistics.median(first):6.1f};"
            f" outside the driver: steady median {statistics.median(outside[name]):5.1f}"
        )
        if probe:
            print(
                f"{'':14} probe during steady flushes: longest gap median {statistics.median(longest[name]):5.1f}"
                f" ms, max {max(longest[name]):5.1f} ms; gaps over 5 ms: {sum(stalls[name]):.0f}"
                f" in {len(stalls[name])} flushes, {sum(idle[name]):.0f} in as long right after them"
            )
    ratio = statistics.median(steady["this checkout"]) / statistics.median(steady["other"])
    print(f"ratio this/other (steady medians): {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7, help="flushes per process (the first inserts the day's rows)")
    parser.add_argument("--processes", type=int, default=3, help="with --against: processes per checkout")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database (default: SQLite)")
    parser.add_argument("--probe", action="store_true", help="also a request-like thread's gaps during flushes")
    parser.add_argument("--against", type=Path, help="another checkout to A/B against (interleaved processes)")
    parser.add_argument("--root", type=Path, default=HERE.parents[1], help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against.resolve(), args.tokens, args.rounds, args.processes, args.postgres, args.probe)
        return
    found = measure(args.root, args.tokens, args.rounds, args.postgres, args.probe)
    if args.json:
        print(json.dumps(found))
        return
    print(f"{args.tokens:,} tokens: {summary(found['ms_cpu_per_flush'])}")
    print(f"  outside the driver's calls: {summary(found['ms_cpu_outside_driver'])}")
    if args.probe:
        print(f"  probe's longest gap: {summary(found['probe_longest_gap_ms'])}")
        print(f"  probe's gaps over 5 ms: {summary(found['probe_gaps_over_5ms'])}")
        print(f"  the same right after, no flush: {summary(found['idle_gaps_over_5ms'])}")


if __name__ == "__main__":
    main()
