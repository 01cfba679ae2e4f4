"""README.md's Getting started runs as written (issue 17 §7): every variable its commands use is set in it, and its
blocks, run in order by bash with ``set -u`` in a fresh folder against a real ``authserver run``, end with a service's
introspection saying the new token is active and names the issuer."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import requests

from tests.support.servers import ROOT, free_port, wait_for_http

README = ROOT / "README.md"
ASSIGNED = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
USED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def getting_started_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Getting started\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def used_before_set(script: str) -> list[str]:
    """Shell variables a line uses that no earlier line (or itself, before the use) sets; single-quoted text (the
    python one-liner) is not expanded by the shell."""
    assigned: set[str] = set()
    missing = []
    for line in script.splitlines():
        unquoted = re.sub(r"'[^']*'", "''", line)
        match = ASSIGNED.match(unquoted)
        for name in USED.findall(unquoted):
            if name not in assigned and not (match and match.group(1) == name):
                missing.append(name)
        if match:
            assigned.add(match.group(1))
    return missing


def test_getting_started_sets_every_variable_it_uses():
    blocks = getting_started_blocks()
    assert len(blocks) >= 2
    assert used_before_set("\n".join(blocks)) == []
    assert "export AUTHSERVER_ISSUER=" in blocks[0] and "authserver token generate" in blocks[0]


@pytest.fixture
def fresh_folder(tmp_path):
    """A folder like a fresh checkout's (its .venv, nothing else), a HOME of its own, and no AUTHSERVER_* setting
    inherited. DATABASE_URL keeps the database in this folder: with an editable install the default would be the
    source tree's instance/, shared with whoever else runs there."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path), DATABASE_URL=f"sqlite:///{folder / 'authserver.db'}", PYTHONUNBUFFERED="1")
    return folder, env


def test_getting_started_runs_against_a_real_server(fresh_folder):
    folder, env = fresh_folder
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    # The README's server listens on the default issuer's port 5000; here, a free one in its place.
    script = "\n".join(getting_started_blocks()).replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    log = folder / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(  # noqa: S603 (the README's own command, from the fresh folder)
            [str(folder / ".venv" / "bin" / "authserver"), "run"],
            env=env | {"AUTHSERVER_ISSUER": issuer},  # the first block's default issuer, on the free port
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"{issuer}/.well-known/oauth-authorization-server", server, log, timeout=90)
        done = subprocess.run(  # noqa: S603
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outputs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        introspection = next(output for output in outputs if "active" in output)  # the curl of the first block
        metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
        reference = requests.get(metadata["service_documentation"], timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert introspection["active"] is True
    assert introspection["iss"] == issuer
    assert set(introspection["scope"].split()) == {"contacts.readonly", "calendars.readonly"}
    assert (folder / "keys").is_dir()  # the default keys folder, in the folder the README runs in
    assert reference.status_code == 200 and reference.headers["Content-Type"].startswith("text/html")
    assert "/api/integrations/{integration_id}/rotate" in reference.text


def test_the_variable_check_catches_an_unset_variable():
    assert used_before_set('A=1\necho "$A $B"\nexport B=2\nx() { echo "$1 $C"; }') == ["B", "C"]
    assert used_before_set("python3 -c 'print($NOT_SHELL)'") == []
