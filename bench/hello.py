"""The ceiling: a bare Flask endpoint, served by the production stack with the same settings as authserver.

``python bench/hello.py --port P --workers N --threads T`` (run.py starts it; it answers ``/hello``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def create_hello_app() -> Flask:
    hello = Flask(__name__)

    @hello.route("/hello", methods=["GET", "POST"])
    def say_hello():
        return {"hello": True}

    return hello


app = create_hello_app()


def main() -> None:
    from authserver.serving import granian_server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    server = granian_server("127.0.0.1", args.port, workers=args.workers, threads=args.threads)
    server.serve(target_loader=create_hello_app, wrap_loader=False)


if __name__ == "__main__":
    main()
