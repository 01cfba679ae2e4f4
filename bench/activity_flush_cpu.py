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


def measure(root: Path, tokens: int, rounds: int, postgres: bool) -> tuple[list[float], list[float]]:
    """ms of thread CPU per flush, one per round (the first one inserts the day's count rows), and the part of it
    outside the driver's calls."""
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
            for round_ in range(rounds):
                base = now + timedelta(seconds=2 * round_)
                for number, jti in enumerate(jtis):
                    buffer.record(jti, "cli_bench", base + timedelta(seconds=2 * number // tokens))
                in_driver[0] = 0.0
                started = time.thread_time()
                flush(buffer)
                timings.append(1e3 * (time.thread_time() - started))
                outside.append(timings[-1] - 1e3 * in_driver[0])
            db.session.remove()
            db.engine.dispose()
    return timings, outside


def summary(values: list[float]) -> str:
    steady = values[1:] or values
    return (
        f"first (inserts) {values[0]:6.1f}  steady median {statistics.median(steady):6.1f}  lowest {min(steady):6.1f}"
        f" ms  rounds {' '.join(f'{v:.1f}' for v in values)}"
    )


def compare(other: Path, tokens: int, rounds: int, processes: int, postgres: bool) -> None:
    here = HERE.parents[1]
    figures: dict[str, list[list[float]]] = {"this checkout": [], "other": []}
    outside: dict[str, list[float]] = {"this checkout": [], "other": []}
    for index in range(processes):
        order = [("this checkout", here), ("other", other)]
        if index % 2:
            order.reverse()
        for name, root in order:
            command = [sys.executable, str(HERE), "--root", str(root), "--tokens", str(tokens)]
            command += ["--rounds", str(rounds), "--json"]
            if postgres:
                command.append("--postgres")
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"{root}: exit {done.returncode}\n{done.stderr[-3000:]}")
            found = json.loads(done.stdout)
            figures[name].append(found["ms_cpu_per_flush"])
            outside[name] += found["ms_cpu_outside_driver"][1:]
    steady = {name: [v for run in runs for v in run[1:]] for name, runs in figures.items()}
    for name, values in steady.items():
        first = [run[0] for run in figures[name]]
        print(
            f"{name:14} steady median {statistics.median(values):6.1f}  lowest {min(values):6.1f} ms CPU per flush"
            f" of {tokens:,} tokens; first (inserts) median {statistics.median(first):6.1f};"
            f" outside the driver: steady median {statistics.median(outside[name]):5.1f}"
        )
    ratio = statistics.median(steady["this checkout"]) / statistics.median(steady["other"])
    print(f"ratio this/other (steady medians): {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7, help="flushes per process (the first inserts the day's rows)")
    parser.add_argument("--processes", type=int, default=3, help="with --against: processes per checkout")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database (default: SQLite)")
    parser.add_argument("--against", type=Path, help="another checkout to A/B against (interleaved processes)")
    parser.add_argument("--root", type=Path, default=HERE.parents[1], help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against.resolve(), args.tokens, args.rounds, args.processes, args.postgres)
        return
    timings, outside = measure(args.root, args.tokens, args.rounds, args.postgres)
    if args.json:
        print(json.dumps({"ms_cpu_per_flush": timings, "ms_cpu_outside_driver": outside}))
        return
    print(f"{args.tokens:,} tokens: {summary(timings)}")
    print(f"  outside the driver's calls: {summary(outside)}")


if __name__ == "__main__":
    main()
