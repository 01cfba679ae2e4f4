"""``authserver run`` (one werkzeug process, for development) and ``authserver serve`` (granian, production)."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from .. import serving
from ..config import MAX_WORKERS
from .base import OneLineCommand


def _listen_on(host: str | None, port: int | None) -> tuple[str, int]:
    """The flag, else AUTHSERVER_HOST/AUTHSERVER_PORT, else 127.0.0.1 and the issuer's port (5000)."""
    config = current_app.config
    port = port if port is not None else config["AUTHSERVER_PORT"]
    return host or config["AUTHSERVER_HOST"], port if port is not None else _issuer_port() or 5000


def _issuer_port() -> int | None:
    return urlsplit(current_app.config["AUTHSERVER_ISSUER"]).port


HOST_HELP = "Default: AUTHSERVER_HOST, else 127.0.0.1."
PORT_HELP = "Default: AUTHSERVER_PORT, else the port of AUTHSERVER_ISSUER (5000)."


@click.command("run", cls=OneLineCommand)
@click.option("--host", default=None, help=HOST_HELP)
@click.option("--port", default=None, type=click.IntRange(0, 65535), help=PORT_HELP)
@with_appcontext
def run(host, port):
    """Start the server (migrates the schema and creates keys on first start)."""
    issuer_port = _issuer_port()
    host, port = _listen_on(host, port)
    if issuer_port and port not in (0, issuer_port):
        click.echo(
            f"note: AUTHSERVER_ISSUER is {current_app.config['AUTHSERVER_ISSUER']} but the server listens "
            f"on port {port}; tokens and metadata name the issuer URL",
            err=True,
        )
    serving.serve(current_app._get_current_object(), host, port)


@click.command("serve", cls=OneLineCommand)
@click.option("--host", default=None, help=HOST_HELP)
@click.option("--port", default=None, type=click.IntRange(1, 65535), help=PORT_HELP)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, MAX_WORKERS),
    help="Default: AUTHSERVER_WORKERS, else one per usable CPU (cgroup quota), at most 32.",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 64),
    help="Request threads per worker. Default: AUTHSERVER_THREADS, else 8.",
)
@with_appcontext
def serve(host, port, workers, threads):
    """Production serving: granian with pre-forked worker processes (migrates and creates keys first)."""
    config = current_app.config
    host, port = _listen_on(host, port)
    # How this command line builds the app (main's factory), for workers that are spawned rather than forked.
    info = click.get_current_context().find_object(ScriptInfo)
    serving.serve_workers(
        current_app._get_current_object(),
        host,
        port,
        workers=workers or config["AUTHSERVER_WORKERS"],
        threads=threads or config["AUTHSERVER_THREADS"],
        factory=info.create_app if info is not None else None,
    )
