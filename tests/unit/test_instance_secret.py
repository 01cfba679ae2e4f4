"""The generated session secret: one per instance folder, whoever starts first (CI once had two first-start CLI
commands race, and the loser crashed with FileExistsError)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from authserver.config import _instance_secret


def _read_secret(folder: str, start, results) -> None:
    start.wait()
    results.put(_instance_secret(Path(folder)))


def test_processes_starting_at_once_all_get_the_one_secret_written(tmp_path):
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_read_secret, args=(str(tmp_path), start, results)) for _ in range(12)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    values = {results.get(timeout=5) for _ in workers}
    written = (tmp_path / "secret_key").read_text()
    assert values == {written} and len(written) >= 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no staged file left behind


def test_a_second_start_reads_the_first_ones_secret(tmp_path):
    assert _instance_secret(tmp_path) == _instance_secret(tmp_path)
