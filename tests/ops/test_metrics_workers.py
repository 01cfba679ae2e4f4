"""``authserver serve --workers 2``: every scrape sums both workers, counters never go back (not even when a worker is
killed and replaced), and the metrics directory is created and wiped at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import make_authserver, wait_for_http

STALE = 1000.0  # a previous run's count, left in the directory: must not show


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


def worker_pids(parent: int) -> set[int]:
    """The granian workers: the serve process's children."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def introspections_by_process(directory: Path) -> dict[int, float]:
    """What each process's counter file holds for active introspections."""
    found = {}
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        found[int(path.stem.split("_")[1])] = sum(
            value for key, value, *_ in values if '"authserver_introspections_total"' in key and '"active"' in key
        )
    return found


def test_scrapes_sum_both_workers_and_never_go_back(tmp_path):
    base = tmp_path / "metrics"
    server = make_authserver(tmp_path / "server", AUTHSERVER_METRICS_DIR=str(base))
    directory = base / f"authserver-metrics-{server.port}"
    directory.mkdir(parents=True)
    stale = MmapedDict(str(directory / "counter_999999.db"))  # what a crashed earlier run would have left
    stale.write_value(
        mmap_key("authserver_introspections_total", "authserver_introspections_total", ["result"], ["active"], "x"),
        STALE,
        0.0,
    )
    stale.close()
    _, rs, _, issued = server.cli_batch(
        ["account", "create", "--name", "Acme", "--json"],
        ["client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"],
        ["integration", "create", "--account", "{0[id]}", "--name", "Zapier", "--scope", "contacts.readonly", "--json"],
        ["token", "generate", "{2[id]}", "--json"],
    )
    log = open(server.workdir / "authserver.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "authserver", "serve", "--port", str(server.port), "--workers", "2"],
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=server.workdir,
    )
    auth = (rs["client_id"], rs["client_secret"])
    close = {"Connection": "close"}  # a new connection each time, so both workers answer some of each

    def scrape() -> str:
        response = requests.get(f"{server.url}/metrics", headers=close, timeout=10)
        assert response.status_code == 200
        return response.text

    def introspect() -> None:
        answer = requests.post(
            f"{server.url}/oauth/introspect", data={"token": issued["token"]}, auth=auth, headers=close, timeout=10
        )
        assert answer.status_code == 200 and answer.json()["active"] is True

    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", proc, server.log_path)
        assert not (directory / "counter_999999.db").exists()  # wiped at start
        assert sample(scrape(), "authserver_introspections_total", result="active") == 0

        done, seen = 0, []
        for _ in range(30):
            introspect()
            done += 1
            for _ in range(2):  # each scrape, whichever worker answers it, sees every introspection so far
                text = scrape()
                seen.append(sample(text, "authserver_introspections_total", result="active"))
                assert seen[-1] == done
                requests_200 = sample(
                    text, "authserver_http_requests_total", endpoint="oauth.introspect", method="POST", status="200"
                )
                assert requests_200 == done
        assert sum(1 for count in introspections_by_process(directory).values() if count) == 2  # both counted

        # A worker killed outright is replaced; what it counted stays in the sum.
        before = worker_pids(proc.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(worker_pids(proc.pid) - {victim}) < 2:
            time.sleep(0.2)
        assert len(worker_pids(proc.pid) - {victim}) == 2, "granian did not replace the killed worker"
        for _ in range(10):
            introspect()
            done += 1
            text = scrape()
            assert sample(text, "authserver_introspections_total", result="active") == done
        duration_count = sample(
            scrape(), "authserver_http_request_duration_seconds_count", endpoint="oauth.introspect", method="POST"
        )
        assert duration_count == done
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
