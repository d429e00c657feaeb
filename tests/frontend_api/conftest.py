"""Fixtures of the API tests: an own anvil with a known scenario, the app on SQLite
and on a real PostgreSQL server that these fixtures start and stop themselves, and the
page in Debian's headless chromium with a test wallet (`open_page`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from energo_testkit.scenario import Scenario, build_scenario, sync
from fastapi.testclient import TestClient

from energo_deploy.localchain import Anvil, free_port
from frontend_api.core.config import Settings
from frontend_api.main import create_app
from frontend_api.server import serve_in_thread

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@pytest.fixture(scope="session")
def api_anvil() -> Iterator[Anvil]:
    with Anvil(accounts=12) as node:
        yield node


@pytest.fixture(scope="session")
def scenario(api_anvil: Anvil) -> Scenario:
    w3 = api_anvil.web3()
    return build_scenario(w3, w3.eth.accounts)


@pytest.fixture(scope="session")
def own_chain(tmp_path_factory):
    """A chain apart from the shared scenario's, for what disturbs it: reorgs, outages
    (SIGSTOP), blocks mined by hand. (node, scenario, deployments file)."""
    with Anvil(accounts=12) as node:
        w3 = node.web3()
        own = build_scenario(w3, w3.eth.accounts)
        path = own.write_deployments(tmp_path_factory.mktemp("own_chain") / "8890.json")
        yield node, own, path


@pytest.fixture(scope="session")
def deployments_file(scenario: Scenario, tmp_path_factory) -> Path:
    return scenario.write_deployments(tmp_path_factory.mktemp("deployments") / "8890.json")


def _pg_tool(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server in a temporary directory, run as a non-root user."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("PostgreSQL is not installed: run tools/setup-system.sh as root (make test does)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]  # initdb refuses to run as root
    data = Path(tempfile.mkdtemp(prefix="energo-pg-"))
    shutil.chown(data, "postgres") if as_user else None
    port = free_port()
    # Run from the data directory: the postgres user may not be able to enter the
    # repository's folder (a clone under /root, say), and initdb needs its cwd.
    subprocess.run([*as_user, initdb, "-D", str(data / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, stdout=subprocess.DEVNULL, cwd=data)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL, cwd=data)
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE energo_api_test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/energo_api_test"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data / "db"), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, check=False, cwd=data)
        shutil.rmtree(data, ignore_errors=True)


def fresh_database(kind: str, request, tmp_path_factory, name: str) -> str:
    """A new, empty database of `kind` (sqlite | postgresql)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / (name + '.sqlite3')}"
    base = request.getfixturevalue("postgres_url")
    import psycopg

    server = base.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_kind(request) -> str:
    return request.param


def _client(db_kind: str, request, tmp_path_factory, api_anvil: Anvil, deployments_file: Path,
            name: str) -> Iterator[TestClient]:
    url = fresh_database(db_kind, request, tmp_path_factory, name)
    settings = Settings(deployments=deployments_file, rpc_url=api_anvil.url, database_url=url, poll_interval_s=0.1,
                        cache_ttl_s=0.2, reading_max_age_s=2 * 86_400)
    with TestClient(create_app(settings)) as test_client:
        sync(test_client)
        yield test_client


@pytest.fixture(scope="session")
def client(db_kind: str, request, tmp_path_factory, api_anvil: Anvil, deployments_file: Path) -> Iterator[TestClient]:
    """The app on this run's database kind (every route test runs on SQLite and PostgreSQL)."""
    yield from _client(db_kind, request, tmp_path_factory, api_anvil, deployments_file, f"energo_api_{db_kind}")


@pytest.fixture(scope="session")
def sqlite_client(request, tmp_path_factory, api_anvil: Anvil, deployments_file: Path) -> Iterator[TestClient]:
    """The app on SQLite, for tests whose subject does not depend on the database
    (the OpenAPI fuzzing, the page): they run once."""
    yield from _client("sqlite", request, tmp_path_factory, api_anvil, deployments_file, "energo_api_once")


@pytest.fixture
def db_factory(db_kind: str, request, tmp_path_factory):
    """Makes fresh empty databases of this run's kind: db_factory(name) -> URL."""
    return lambda name: fresh_database(db_kind, request, tmp_path_factory, f"energo_{name}_{db_kind}")


# ------------------------------------------------------------------ the page in a browser

CHROMIUM = "/usr/bin/chromium"

# An EIP-1193 provider whose requests go to the local anvil, where the dev accounts sign.
WALLET = """
window.__testWallet = { rejectNext: false, account: %r, calls: [] };
window.ethereum = {
  isEnergoTestWallet: true,
  on() {}, removeListener() {},
  async request({ method, params }) {
    const w = window.__testWallet;
    w.calls.push(method);
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [w.account.toLowerCase()];
    if (method === "eth_chainId") return "0x22ba";
    if ((method === "eth_sendTransaction" || method === "eth_signTypedData_v4") && w.rejectNext) {
      w.rejectNext = false;
      const error = new Error("User rejected the request."); error.code = 4001; throw error;
    }
    const out = await window.__anvil(method, params || []);
    if (out.error) { const error = new Error(out.error.message); error.code = out.error.code; throw error; }
    return out.result;
  },
};
"""


@pytest.fixture(scope="module")
def served(api_anvil, deployments_file):
    tmp = Path(tempfile.mkdtemp(prefix="energo-page-"))
    settings = Settings(deployments=deployments_file, rpc_url=api_anvil.url, database_url=f"sqlite:///{tmp}/i.db",
                        port=free_port(), poll_interval_s=0.2, cache_ttl_s=0.2, reading_max_age_s=2 * 86_400)
    handle = serve_in_thread(settings)
    yield handle
    handle.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(served):
    """Depends on `served` so that the browser (and its keep-alive connections) goes first."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: run tools/setup-system.sh as root (make test does)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="energo-chromium-")
    with sync_playwright() as p:
        # A fresh profile directory each run (Playwright passes it as --user-data-dir).
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            viewport={"width": 1240, "height": 1500}, device_scale_factor=1)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_page(browser, served, scenario):
    """open_page(width=1240, height=1500, connect=True, query="") -> a page showing the
    household's screen at the chain's head: connected through the test wallet, or read-only
    with `query="?account=0x…", connect=False`. Closed after the test."""
    opened = []

    def _open(width: int = 1240, height: int = 1500, connect: bool = True, query: str = ""):
        w3 = scenario.w3
        page = browser.new_page()
        opened.append(page)
        page.set_viewport_size({"width": width, "height": height})
        page.expose_function("__anvil", lambda method, params: w3.provider.make_request(method, params))
        page.add_init_script(WALLET % scenario.household.address)
        head = w3.eth.block_number
        page.goto(served.url + "/" + query)
        if connect:
            page.click("#connect")
        # the page re-renders when the index reaches a new block: wait until it shows the head
        page.wait_for_function(f"() => Number(document.body.dataset.block) >= {head} && "
                               "document.getElementById('watt-held').textContent !== '–'", timeout=30_000)
        return page

    yield _open
    for page in opened:
        page.close()
