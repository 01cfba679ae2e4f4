"""The real ``authserver`` command line over the real app plus one route that fails, for the log tests.

``python -m tests.ops.failing_app serve ...`` is ``authserver serve`` (granian, pre-forked workers) serving
``create_app()`` with ``GET /ops-test/fail`` added: it raises an unexpected exception whose message carries what the
caller sent (a token, a secret), as careless code does. No such route exists in the product.
"""

from __future__ import annotations

import logging

from flask import request

from authserver import create_app
from authserver.cli.base import OneLineFlaskGroup

FAIL_PATH = "/ops-test/fail"


class UpstreamRefusedError(RuntimeError):
    """What the failing route raises: nothing in authserver handles it, so it is a 500."""


def build_app():
    app = create_app()

    @app.get(FAIL_PATH)
    def fail():
        logging.getLogger("authserver.ops_test").info("about to fail")
        raise UpstreamRefusedError(f"upstream refused token {request.args.get('token')} ({request.args.get('secret')})")

    return app


if __name__ == "__main__":
    OneLineFlaskGroup(create_app=build_app, add_default_commands=False, load_dotenv=False, set_debug_flag=False)(
        prog_name="authserver"
    )
