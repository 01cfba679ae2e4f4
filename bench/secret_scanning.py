"""What a secret scanning alert costs the server, in CPU time. Prints figures; asserts nothing.

    python bench/secret_scanning.py [--iterations 300] [--json]

1. ``verify_alert`` alone: the ECDSA P-256 / SHA-256 signature of a one-entry alert's raw body, by a cached key;
2. a refused alert (a forged signature) through the Flask test client: the rate limit's database write, the
   signature check and the 401;
3. whole alerts through the test client on SQLite: N entries of garbage (``false_positive``: the verdict without a
   database write), and N of our tokens already revoked (``true_positive``: verified, looked up, the report
   recorded once, so the repeats are reads). The first alert revoking a live token is a one-off per token and is
   not a steady state, so it is not timed here.

Figures are CPU time of this process (``time.process_time``) per alert, over many iterations: the machine is
shared, and waiting for a CPU is not counted. The key document is served by a local HTTP server and fetched once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python"))

from authserver import create_app  # noqa: E402
from authserver.clock import FrozenClock  # noqa: E402
from authserver.database import prepare  # noqa: E402
from authserver.extensions import db  # noqa: E402
from authserver.secret_scanning import scanning  # noqa: E402
from authserver.secret_scanning.signature import verify_alert  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import START  # noqa: E402
from tests.support.config import make_app_config  # noqa: E402
from tests.support.secret_scanner import ALERT_PATH, KeyServer, ScannerKey, alert_body, key_document  # noqa: E402


def per_call(function, iterations: int) -> float:
    """Milliseconds of CPU time per call."""
    function()  # warm: caches, the key document, prepared statements
    start = time.process_time()
    for _ in range(iterations):
        function()
    return (time.process_time() - start) * 1000 / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    key = ScannerKey()
    figures: dict[str, float] = {}
    with KeyServer(key_document(key)) as keys, tempfile.TemporaryDirectory() as tmp:
        clock = FrozenClock(START)
        config = make_app_config(
            Path(tmp),
            f"sqlite:///{Path(tmp) / 'bench.db'}",
            AUTHSERVER_SECRET_SCANNING_KEYS_URL=keys.url,
            AUTHSERVER_SIGNING_ALG="ES256",
            AUTHSERVER_RATE_LIMIT_REVOCATION="off",
            TESTING=False,
        )
        app = create_app(config, clock=clock)
        prepare(app)
        with app.app_context():
            world = factories.make_world(app.extensions["authserver"], clock)
            client = app.test_client()
            dead = [world.agency.token, world.sub.token, world.other.token]
            for token in dead:
                client.post("/oauth/revoke", data={"token": token})

            one = alert_body(dead[0])
            signature = key.sign(one)
            found = scanning(app)
            assert found is not None
            figures["verify_alert, 1 entry"] = per_call(
                lambda: verify_alert(found.keys, key.identifier, signature, one), args.iterations * 10
            )
            forged = key.headers(one) | {"Github-Public-Key-Signature": ScannerKey().sign(one)}
            figures["refused alert (bad signature), HTTP"] = per_call(
                lambda: client.post(ALERT_PATH, data=one, headers=forged), args.iterations
            )
            for count in (1, 10, 100):
                garbage = alert_body(*[f"not-a-token-{index}" for index in range(count)])
                headers = key.headers(garbage)
                figures[f"alert of {count} false_positive, HTTP"] = per_call(
                    lambda body=garbage, headers=headers: client.post(ALERT_PATH, data=body, headers=headers),
                    max(20, args.iterations // count),
                )
                ours = alert_body(*[dead[index % 3] for index in range(count)])
                headers = key.headers(ours)
                figures[f"alert of {count} true_positive (already revoked), HTTP"] = per_call(
                    lambda body=ours, headers=headers: client.post(ALERT_PATH, data=body, headers=headers),
                    max(20, args.iterations // count),
                )
            figures["key document fetches"] = keys.hits
            db.session.remove()
            db.engine.dispose()
    if args.json:
        print(json.dumps({name: round(value, 3) for name, value in figures.items()}))
        return
    for name, value in figures.items():
        unit = "" if name == "key document fetches" else " ms CPU"
        print(f"{name:<55} {value:>9.3f}{unit}")


if __name__ == "__main__":
    main()
