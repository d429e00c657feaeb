"""Market test fixtures: both markets deployed and households funded once per package,
reverted after the package; each test still runs inside the per-test snapshot of `system`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from web3.contract import Contract

from energo.constants import TSL
from energo.facts import MarketSettings
from energo.tx import Sender
from energo_deploy.markets import deploy_market
from energo_deploy.system import EnergoSystem

from .helpers import Funder

#: 0.001 TSL per kWh ticks, 100 Wh minimum.
CONFIG = MarketSettings(tick_size=TSL // 1000, min_size_wh=100)
WATT_EACH_WH = 40_000
TSL_EACH = 2_000 * TSL
FUNDED = 6


@dataclass
class MarketEnv:
    system: EnergoSystem
    funder: Funder
    continuous: Contract
    auction: Contract
    traders: list[Sender]


@pytest.fixture(scope="package")
def market_env(w3, deployed: EnergoSystem, relayer: Sender, households: list[Sender]) -> Iterator[MarketEnv]:
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    funder = Funder(deployed, relayer)
    continuous = deploy_market(deployed, CONFIG, name="test-continuous")
    auction = deploy_market(deployed, replace(CONFIG, mode="auction"), name="test-auction")
    traders = households[:FUNDED]
    for trader in traders:  # TSL first, so storage rent is prepaid from the start
        funder.give_tsl(trader, TSL_EACH)
    funder.give_watt([t.address for t in traders], WATT_EACH_WH)
    try:
        yield MarketEnv(deployed, funder, continuous, auction, traders)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
        deployed.markets.pop("test-continuous", None)
        deployed.markets.pop("test-auction", None)


@pytest.fixture
def env(market_env: MarketEnv, system: EnergoSystem) -> MarketEnv:
    """The package's markets, inside this test's snapshot."""
    return market_env


@pytest.fixture
def cda(env: MarketEnv) -> Contract:
    return env.continuous


@pytest.fixture
def auction(env: MarketEnv) -> Contract:
    return env.auction


@pytest.fixture
def funder_free_seller(env: MarketEnv, households: list[Sender]) -> Sender:
    """A household with WATT and no prepaid TSL."""
    seller = households[FUNDED]
    env.funder.give_watt(seller.address, 1_000)
    return seller
