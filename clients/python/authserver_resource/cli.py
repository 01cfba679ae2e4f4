"""``authserver-resource``: the package's command line. One command today, ``gate``.

    authserver-resource gate --listen 127.0.0.1:PORT --authserver URL --client-id ID --client-secret-file PATH
                             [--routes FILE] [--mode introspection|local] [--resource URI] [--audience URI]
                             [--public-url URL] [--dpop-replay-redis redis://HOST:PORT/DB]

The client secret is read from a file (never from the command line, where ``ps`` would show it).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .gate import serve
from .guard import Guard
from .routes import RoutesError, RouteTable
from .settings import DEFAULT_AUDIENCE, MODES, Settings, SettingsError


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:9000")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authserver-resource")
    commands = parser.add_subparsers(dest="command", required=True)
    gate = commands.add_parser("gate", help="answer a proxy's auth subrequests (nginx auth_request, Traefik, Envoy)")
    gate.add_argument("--listen", type=_listen, required=True, metavar="HOST:PORT")
    gate.add_argument("--authserver", required=True, metavar="URL", help="the authorization server's issuer URL")
    gate.add_argument("--client-id", required=True, metavar="ID", help="this service's resource-service client")
    gate.add_argument("--client-secret-file", required=True, metavar="PATH")
    gate.add_argument("--routes", metavar="FILE", help="METHOD PATH-PREFIX SCOPE per line; unmatched: 403")
    gate.add_argument("--mode", choices=MODES, default="introspection")
    gate.add_argument("--resource", metavar="URI", default="", help="this service's resource identifier (RFC 8707)")
    gate.add_argument(
        "--audience",
        metavar="URI",
        default=DEFAULT_AUDIENCE,
        help="the authorization server's default audience (AUTHSERVER_AUDIENCE)",
    )
    gate.add_argument(
        "--public-url",
        metavar="URL",
        default="",
        help="the URL clients call the service at (DPoP proofs' htu), e.g. https://api.example.com",
    )
    gate.add_argument("--dpop-replay-redis", metavar="URL", default="", help="share the DPoP jti replay cache")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        with open(args.client_secret_file, encoding="utf-8") as handle:
            secret = handle.read().strip()
        routes = RouteTable.load(args.routes) if args.routes else None
        settings = Settings(
            issuer=args.authserver,
            client_id=args.client_id,
            client_secret=secret,
            mode=args.mode,
            resource=args.resource,
            audience=args.audience,
            public_url=args.public_url,
            dpop_replay_redis_url=args.dpop_replay_redis,
        )
    except (OSError, RoutesError, SettingsError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    host, port = args.listen
    serve(Guard(settings), routes, host, port)


if __name__ == "__main__":
    main()
