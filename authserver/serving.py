"""Serving: prepare the instance, start background work, listen, and shut down cleanly."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from .config import ConfigError
from .database import prepare
from .keys import KeyStoreError
from .logs import configure_logging

log = logging.getLogger("authserver")


def serve(app, host: str, port: int) -> None:
    from werkzeug.serving import make_server

    configure_logging()
    try:
        prepare(app)
    except (KeyStoreError, ConfigError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    services = app.extensions["authserver"]
    server = make_server(host, port, app, threaded=True)
    issuer = app.config["AUTHSERVER_ISSUER"]
    print(f"authserver listening on http://{host}:{server.port} (issuer {issuer})", flush=True)
    print(f"  metadata:  {issuer}/.well-known/oauth-authorization-server\n"
          "  next:      authserver account create --name 'My company'   (see README: Getting started)", flush=True)
    if services.flusher is not None:
        services.flusher.start()
    # SIGTERM: stop accepting, let in-flight requests finish, flush activity (shutdown must run off-thread).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if services.flusher is not None:
            services.flusher.stop()
