"""Serving: create the schema, start the feed (and usage reports) and the data-event publisher, listen, and stop
cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from authserver_resource import log_redaction

from .database import prepare
from .events import publisher

log = logging.getLogger("resource_demo")


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: API clients reuse connections


def serve(app, host: str, port: int) -> None:
    log_redaction.install()  # request lines are logged; a token someone put in a URL is not
    prepare(app)
    guard = app.extensions["resource_demo"]
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    print(
        f"resource_demo listening on http://{host}:{server.port} ({guard.mode} mode, "
        f"authorization server {guard.link.issuer})",
        flush=True,
    )
    guard.start()
    events = publisher(app)
    if events is not None:
        events.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        guard.stop()
        if events is not None:
            events.stop()
        sys.stdout.flush()
