"""Serving: create the schema, start the feed (and usage reports), listen, and stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .database import prepare

log = logging.getLogger("resource_demo")
_QUERY_TOKEN = re.compile(r"(access_token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """Request lines are logged; a token someone put in a URL must not be (it is refused with 400 anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_QUERY_TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        record.msg = _QUERY_TOKEN.sub(r"\1[redacted]", str(record.msg))
        return True


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: API clients reuse connections


def serve(app, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").addFilter(RedactTokens())
    prepare(app)
    runtime = app.extensions["resource_demo"]
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    print(f"resource_demo listening on http://{host}:{server.port} ({runtime.mode} mode, "
          f"authorization server {runtime.link.issuer})", flush=True)
    runtime.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        runtime.stop()
        sys.stdout.flush()
