"""Fixtures of the API tests: an own anvil with a known scenario, and the app on SQLite
and on a real PostgreSQL server that these fixtures start and stop themselves."""

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
