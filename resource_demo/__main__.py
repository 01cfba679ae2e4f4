"""``python -m resource_demo``: configuration from the environment (see README, "Walk-through: a v2 API service")."""

from __future__ import annotations

import sys

from .config import ConfigError


def main() -> None:
    from . import create_app
    from .serving import serve

    try:
        app = create_app()
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(app, app.config["RESOURCE_DEMO_HOST"], app.config["RESOURCE_DEMO_PORT"])


if __name__ == "__main__":
    main()
