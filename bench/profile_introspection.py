"""pyinstrument over introspections through the Flask test client (started by ``run.py profile``).

Reads the server environment plus BENCH_TOKEN, BENCH_AUTHORIZATION and BENCH_PROFILE_REQUESTS; prints the
per-request time and the call tree (pyinstrument's text, library frames collapsed).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler  # noqa: E402

from authserver import create_app  # noqa: E402


def main() -> None:
    requests = int(os.environ["BENCH_PROFILE_REQUESTS"])
    body = {"token": os.environ["BENCH_TOKEN"]}
    headers = {"Authorization": os.environ["BENCH_AUTHORIZATION"]}
    client = create_app().test_client()

    def introspect() -> None:
        response = client.post("/oauth/introspect", data=body, headers=headers)
        assert response.status_code == 200 and response.json["active"] is True, response.json

    for _ in range(200):
        introspect()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        introspect()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{requests} introspections in-process (no profiler): {1e6 * cpu / requests:.0f} us CPU each "
        f"({1e6 * elapsed / requests:.0f} us wall on this machine's load)"
    )
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(requests):
            introspect()
    print(profiler.output_text(unicode=False, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1"))


if __name__ == "__main__":
    main()
