"""The WSGI servers compared for production serving, each as the command that starts it on a loopback port.

``target`` is a ``module:attribute`` WSGI app. Used by ``run.py stacks``; the production choice is whichever
``authserver serve`` runs (``serve`` below).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent


def werkzeug_threaded(target: str, port: int, workers: int) -> list[str]:
    """What ``authserver run`` used first: one process, a thread per request."""
    return [
        str(BIN / "flask"),
        "--app",
        target,
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--with-threads",
        "--no-reload",
        "--no-debugger",
    ]


def gunicorn_sync(target: str, port: int, workers: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        target,
    ]


def gunicorn_gthread(target: str, port: int, workers: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        target,
    ]


def granian_wsgi(target: str, port: int, workers: int, threads: int = 1) -> list[str]:
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-ws",
        target,
    ]


def granian_wsgi_threads(target: str, port: int, workers: int) -> list[str]:
    """What ``authserver serve`` runs by default: 8 threads per worker, so long polls cannot starve it."""
    return granian_wsgi(target, port, workers, threads=8)


STACKS: dict[str, Callable[[str, int, int], list[str]]] = {
    "werkzeug-threaded": werkzeug_threaded,
    "gunicorn-sync": gunicorn_sync,
    "gunicorn-gthread": gunicorn_gthread,
    "granian": granian_wsgi,
    "granian-8threads": granian_wsgi_threads,
}
