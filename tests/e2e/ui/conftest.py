"""Browser fixtures: one real ``authserver run`` and one headless Debian chromium per module, driven by Playwright.

The Playwright browser download does not work here, so the tests use ``/usr/bin/chromium`` (``.ci/run`` installs
it). Without it they fail with a message saying so: a browser test that silently skips proves nothing.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.forkserver import run_python
from tests.support.servers import ROOT, AuthServerProcess, make_authserver

CHROMIUM = os.environ.get("AUTHSERVER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
ADMIN, MEMBER = "admin@agency.test", "member@agency.test"


@dataclass
class UiWorld:
    """The running server and what was seeded into it through the real CLI."""

    server: AuthServerProcess
    agency: str
    sub: str
    other: str
    resource_service: tuple[str, str]
    seeded: dict  # integration name -> {"id": ..., "token": ...}

    @property
    def url(self) -> str:
        return self.server.url

    def integrations_url(self, account_id: str | None = None) -> str:
        return f"{self.url}/accounts/{account_id or self.agency}/settings/integrations"

    def introspect(self, token: str) -> dict:
        response = requests.post(
            f"{self.url}/oauth/introspect", data={"token": token}, auth=self.resource_service, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()


# Like AuthServerProcess.cli_batch, but each command may have its own standard input (``--password-stdin``):
# one Python process seeds everything, instead of paying the imports once per command.
_SEED_SCRIPT = """
import contextlib, io, json, sys
from authserver.cli import main
results = []
for argv, stdin in json.load(sys.stdin):
    sys.argv = ["authserver", *[arg.format(*results) for arg in argv]]
    sys.stdin, out = io.StringIO(stdin), io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                sys.exit(f"authserver {' '.join(sys.argv[1:])} failed with {exc.code}")
    results.append(json.loads(out.getvalue()))
print(json.dumps(results))
"""


def _cli_seed(server: AuthServerProcess, *commands) -> list[dict]:
    steps = [(list(command[0]), command[1]) if isinstance(command, tuple) else (command, "") for command in commands]
    done = run_python(["-c", _SEED_SCRIPT], env=server.env, cwd=server.workdir, input=json.dumps(steps), timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed: {done.stderr}")
    return json.loads(done.stdout)


def _seed(server: AuthServerProcess) -> UiWorld:
    user = ["user", "create", "--account", "{0[id]}", "--password-stdin", "--json", "--email"]
    results = _cli_seed(
        server,
        ["account", "create", "--name", "Northwind Agency", "--json"],
        ["account", "create", "--name", "Bakery on Main", "--parent", "{0[id]}", "--json"],
        ["account", "create", "--name", "Unrelated Co", "--json"],
        ["client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"],
        [
            "integration",
            "create",
            "--account",
            "{0[id]}",
            "--name",
            "Data warehouse sync",
            "--description",
            "Nightly export of contacts and opportunities",
            "--scope",
            "contacts.readonly",
            "--scope",
            "opportunities.readonly",
            "--json",
        ],
        ["token", "generate", "{4[id]}", "--json"],
        [
            "integration",
            "create",
            "--account",
            "{0[id]}",
            "--name",
            "Support inbox",
            "--description",
            "Helpdesk replies to conversations",
            "--scope",
            "conversations.readonly",
            "--scope",
            "conversations.write",
            "--json",
        ],
        ["token", "generate", "{6[id]}", "--json"],
        ["integration", "disable", "{6[id]}", "--json"],
        ["integration", "create", "--account", "{2[id]}", "--name", "Not yours", "--scope", "users.readonly", "--json"],
        ([*user, ADMIN, "--role", "admin"], PASSWORD + "\n"),
        ([*user, MEMBER, "--role", "member"], PASSWORD + "\n"),
    )
    agency, sub, other, service = results[0]["id"], results[1]["id"], results[2]["id"], results[3]
    seeded = {
        results[4]["name"]: {"id": results[4]["id"], "token": results[5]["token"]},
        results[6]["name"]: {"id": results[6]["id"], "token": results[7]["token"]},
        results[9]["name"]: {"id": results[9]["id"], "token": None},
    }
    return UiWorld(server, agency, sub, other, (service["client_id"], service["client_secret"]), seeded)


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> UiWorld:
    server = make_authserver(tmp_path_factory.mktemp("authserver-ui"))
    with ThreadPoolExecutor(max_workers=1) as pool:  # seed while the server starts: both are mostly imports
        seeding = pool.submit(_seed, server)
        try:
            server.start()
            world = seeding.result()
        except BaseException:
            server.stop()
            raise
    try:
        yield world
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does "
            "this). The admin UI tests need a real browser and must not pass without one."
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, permissions=["clipboard-read", "clipboard-write"]
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None
    )
    yield page
    assert errors == [], f"the page raised errors or broke its Content-Security-Policy: {errors}"


def sign_in(page, world: UiWorld, email: str, password: str = PASSWORD) -> None:
    page.goto(world.url + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{world.url}/accounts/**")


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
