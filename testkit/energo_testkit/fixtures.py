"""pytest fixtures for chain tests: one anvil and one deployment per session, and a
snapshot/revert around every test that uses them (so tests stay independent and fast).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from web3 import Web3

from energo.tx import Sender
from energo_deploy.localchain import Anvil
from energo_deploy.system import EnergoSystem, Roles, SystemConfig, deploy_system
from energo_testkit.clock import set_next_timestamp, time_travel  # noqa: F401  (tests import them from here)

ROLE_INDEX = {"admin": 0, "treasury": 1, "operator": 2, "registrar": 3, "relayer": 4, "attacker": 5}
FIRST_HOUSEHOLD = 6
HOUSEHOLDS = 10


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with Anvil(accounts=FIRST_HOUSEHOLD + HOUSEHOLDS) as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return anvil.web3()


@pytest.fixture(scope="session")
def dev_accounts(w3: Web3) -> list[str]:
    return w3.eth.accounts


def _sender(w3: Web3, dev_accounts: list[str], role: str) -> Sender:
    return Sender(w3, dev_accounts[ROLE_INDEX[role]])


@pytest.fixture(scope="session")
def admin(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "admin")


@pytest.fixture(scope="session")
def treasury(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "treasury")


@pytest.fixture(scope="session")
def operator(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "operator")


@pytest.fixture(scope="session")
def registrar(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "registrar")


@pytest.fixture(scope="session")
def relayer(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "relayer")


@pytest.fixture(scope="session")
def attacker(w3, dev_accounts) -> Sender:
    return _sender(w3, dev_accounts, "attacker")


@pytest.fixture(scope="session")
def households(w3, dev_accounts) -> list[Sender]:
    return [Sender(w3, a) for a in dev_accounts[FIRST_HOUSEHOLD:FIRST_HOUSEHOLD + HOUSEHOLDS]]


@pytest.fixture(scope="session")
def household(households) -> Sender:
    return households[0]


@pytest.fixture(scope="session")
def system_config() -> SystemConfig:
    # A nameplate above the capacity, so tests can raise the capacity (up to 5 MWh).
    return SystemConfig(nameplate_wh=5_000_000)


@pytest.fixture(scope="session")
def deployed(w3, admin, treasury, operator, registrar, system_config) -> EnergoSystem:
    roles = Roles(admin=admin, treasury=treasury, operator=operator, registrar=registrar)
    return deploy_system(w3, roles, system_config)


@pytest.fixture
def system(w3: Web3, deployed: EnergoSystem) -> Iterator[EnergoSystem]:
    """The deployed system, with the chain reverted to this point after the test."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield deployed
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
        # Reverting also rewinds anvil's clock to the snapshot's time; without this the
        # session's chain would fall behind wall time by every test's duration, and
        # gateways signing with the real clock would be refused as "in the future".
        latest = w3.eth.get_block("latest")["timestamp"]
        w3.provider.make_request("anvil_setTime", [max(int(time.time()), latest)])
        # ... and a block at that time, so the next test's "latest block time" is now: a
        # test that reads it and plans "now + 60 s" is not already late (after a slow
        # test the reverted latest block can be minutes old).
        w3.provider.make_request("evm_mine", [])
