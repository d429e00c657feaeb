"""Deploying and driving Energo's markets from Python (tests, the demo, benchmarks, keepers).

Two modes share one price-book structure (docs/market.md):

- ``continuous``: ContinuousMarket, a limit order book (price-time priority, GTT, IOC);
- ``auction``: CallAuctionMarket, periodic rounds cleared at one uniform price.

A market's parameters are ``energo.facts.MarketSettings``, the same shape the deploy
configuration's ``[market]`` section becomes; the engine and ``deploy_market`` build the
constructor arguments from it the same way. Units: amounts in whole Wh, prices in TSL
base units per WATT (per kWh) on the market's tick grid.
"""

from __future__ import annotations

from web3.contract import Contract

from energo.facts import MARKET_MODES, MARKET_ROLE, MarketSettings, RoundPhase
from energo.tx import Sender, TxFailed
from energo_deploy.system import EnergoSystem


def deploy_market(
    system: EnergoSystem,
    settings: MarketSettings | None = None,
    name: str | None = None,
    sender: Sender | None = None,
) -> Contract:
    """Deploys a market, grants it MARKET_ROLE on the battery and records it in
    ``system.markets`` (under ``name``, default the mode)."""
    settings = settings or MarketSettings()
    if settings.mode not in MARKET_MODES:
        raise ValueError(f"mode must be one of {MARKET_MODES}, got {settings.mode!r}")
    admin = system.roles.admin
    deployer = sender or admin
    market = deployer.deploy(settings.contract, *settings.constructor_args(system.battery.address))
    admin.transact(system.battery.functions.grantRole(MARKET_ROLE, market.address))
    system.markets[name or settings.mode] = market
    return market


def clear_due_rounds(market: Contract, sender: Sender, max_steps: int = 250, max_calls: int = 100) -> list[int]:
    """Clears every round that is due, in bounded chunks; returns the rounds finished.

    Losing a race to another keeper is harmless: a round that is already cleared
    reverts early with AuctionRoundAlreadyCleared, which is skipped here.
    """
    finished: list[int] = []
    for _ in range(max_calls):
        due, round_id = market.functions.clearableRound().call()
        if not due:
            break
        try:
            sender.transact(market.functions.clearRound(round_id, max_steps))
        except TxFailed as exc:
            if exc.error != "AuctionRoundAlreadyCleared":
                raise
        if market.functions.roundState(round_id).call()[0] == RoundPhase.CLEARED:
            finished.append(round_id)
    return finished
