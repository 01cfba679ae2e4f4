"""Builds what the benchmark introspects, through the real CLI commands, in one process.

Run with the server's environment (``DATABASE_URL``, ``AUTHSERVER_KEYS_DIR``, ...); prints one JSON object:
the resource-service credentials, one active token, a pool of distinct active tokens and revoked tokens.
Commands go through click (``app.test_cli_runner``) so the app is built once rather than once per command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authserver import create_app  # noqa: E402


class Cli:
    def __init__(self) -> None:
        self.runner = create_app().test_cli_runner()

    def __call__(self, *args: str) -> dict:
        result = self.runner.invoke(args=[*args, "--json"], catch_exceptions=False)
        if result.exit_code != 0:
            raise SystemExit(f"authserver {' '.join(args)} failed: {result.output}")
        return json.loads(result.output)


def build(pool: int, revoked: int) -> dict:
    cli = Cli()
    cli("init")
    account = cli("account", "create", "--name", "Bench")["id"]
    client = cli("client", "create", "--name", "bench-service", "--kind", "resource-service")

    def new_token(name: str) -> tuple[str, str]:
        integration = cli(
            "integration",
            "create",
            "--account",
            account,
            "--name",
            name,
            "--scope",
            "contacts.readonly",
            "--scope",
            "calendars.readonly",
        )["id"]
        return integration, cli("token", "generate", integration, "--expires-in", "1d")["token"]

    _, active = new_token("bench-active")
    tokens = [new_token(f"bench-pool-{n}")[1] for n in range(pool)]
    dead = []
    for n in range(revoked):
        integration, token = new_token(f"bench-revoked-{n}")
        cli("token", "expire", integration)
        dead.append(token)
    return {
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "active": active,
        "pool": tokens,
        "revoked": dead,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--revoked", type=int, default=100)
    args = parser.parse_args()
    json.dump(build(args.pool, args.revoked), sys.stdout)


if __name__ == "__main__":
    main()
