"""``authserver run`` (one werkzeug process, for development) and ``authserver serve`` (granian, production)."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from .. import serving
from .base import OneLineCommand


@click.command("run", cls=OneLineCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Default: the port of AUTHSERVER_ISSUER (5000)."
)
@with_appcontext
def run(host, port):
    """Start the server (migrates the schema and creates keys on first start)."""
    issuer_port = urlsplit(current_app.config["AUTHSERVER_ISSUER"]).port
    if port is None:
        port = issuer_port or 5000
    elif issuer_port and port != issuer_port:
        click.echo(
            f"note: AUTHSERVER_ISSUER is {current_app.config['AUTHSERVER_ISSUER']} but the server listens "
            f"on port {port}; tokens and metadata name the issuer URL",
            err=True,
        )
    serving.serve(current_app._get_current_object(), host, port)


@click.command("serve", cls=OneLineCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", default=None, type=click.IntRange(1, 65535), help="Default: the port of AUTHSERVER_ISSUER (5000)."
)
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="Default: AUTHSERVER_WORKERS (CPUs).")
@click.option("--threads", default=None, type=click.IntRange(1, 64), help="Per worker; default AUTHSERVER_THREADS.")
@with_appcontext
def serve(host, port, workers, threads):
    """Production serving: granian with pre-forked worker processes (migrates and creates keys first)."""
    config = current_app.config
    port = port or urlsplit(config["AUTHSERVER_ISSUER"]).port or 5000
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
