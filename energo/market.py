"""Deploying and driving Energo's markets from Python (tests, demo, benchmarks, keepers).

Two modes share one price-book structure (docs/market.md):

- ``continuous``: ContinuousMarket, a limit order book (price-time priority, GTT, IOC);
- ``auction``: CallAuctionMarket, periodic rounds cleared at one uniform price.

Units: amounts in whole Wh, prices in TSL base units per WATT (per kWh) on the market's
tick grid (a multiple of 1000, so ``cost_tsl`` is exact).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from web3.contract import Contract

from energo.constants import TSL, WATT_PER_WH
from energo.system import MARKET_ROLE, EnergoSystem
from energo.tx import Sender

MODES = ("continuous", "auction")
CONTRACTS = {"continuous": "ContinuousMarket", "auction": "CallAuctionMarket"}

#: Ticks are 24-bit (TickBitmap.MAX_TICK); order ids hold a 40-bit queue index.
MAX_TICK = (1 << 24) - 1
INDEX_BITS = 40
DEFAULT_ROUND_LENGTH = 900  # 15 minutes, the Manila market's rounds
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class Side(enum.IntEnum):
    """IMarket.Side (ABI uint8)."""

    BUY = 0
    SELL = 1


class RemovalReason(enum.IntEnum):
    """IMarket.RemovalReason."""

    CANCELLED = 0
    EXPIRED = 1
    SELF_TRADE = 2
    SELLER_SHORTFALL = 3
    UNFILLED = 4


class RoundPhase(enum.IntEnum):
    """IMarketAuction.RoundPhase."""

    OPEN = 0
    DISCOVERING = 1
    SETTLING = 2
    CLEARED = 3


@dataclass(frozen=True)
class MarketConfig:
    """IMarket.MarketConfig plus the call auction's round length. Fee and cap are off."""

    tick_size: int = TSL // 1000  # 0.001 TSL per kWh
    min_order_wh: int = 100  # 0.1 kWh
    fee_bps: int = 0
    fee_recipient: str = ZERO_ADDRESS
    cap_at_utility_price: bool = False
    round_length: int = DEFAULT_ROUND_LENGTH

    def as_tuple(self) -> tuple:
        return (self.tick_size, self.min_order_wh, self.fee_bps, self.fee_recipient, self.cap_at_utility_price)


def deploy_market(
    system: EnergoSystem,
    mode: str = "continuous",
    config: MarketConfig = MarketConfig(),
    name: str | None = None,
    sender: Sender | None = None,
) -> Contract:
    """Deploys a market, grants it MARKET_ROLE on the battery and records it in
    ``system.markets`` (under ``name``, default the mode)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    admin = system.roles.admin
    deployer = sender or admin
    args: list = [system.battery.address, config.as_tuple()]
    if mode == "auction":
        args.append(config.round_length)
    market = deployer.deploy(CONTRACTS[mode], *args)
    admin.transact(system.battery.functions.grantRole(MARKET_ROLE, market.address))
    system.markets[name or mode] = market
    return market


# ---------------------------------------------------------------------------- units


def cost_tsl(amount_wh: int, price: int) -> int:
    """TSL base units for ``amount_wh`` at ``price`` (TSL base units per kWh)."""
    return amount_wh * price // 1000


def wh_to_watt(amount_wh: int) -> int:
    return amount_wh * WATT_PER_WH


@dataclass(frozen=True)
class OrderKey:
    """What an order id encodes: ``id = (bookId << 25 | side << 24 | tick) << 40 | index``."""

    book_id: int
    side: Side
    tick: int
    index: int

    @classmethod
    def decode(cls, order_id: int) -> OrderKey:
        key = order_id >> INDEX_BITS
        return cls(key >> 25, Side((key >> 24) & 1), key & MAX_TICK, order_id & ((1 << INDEX_BITS) - 1))

    def encode(self) -> int:
        return (((self.book_id << 25) | (int(self.side) << 24) | self.tick) << INDEX_BITS) | self.index


# ---------------------------------------------------------------------------- keeper


def clear_due_rounds(market: Contract, sender: Sender, max_steps: int = 250, max_calls: int = 100) -> list[int]:
    """Clears every round that is due, in bounded chunks; returns the rounds finished.

    Losing a race to another keeper is harmless: a round that is already cleared
    reverts early with AuctionRoundAlreadyCleared, which is skipped here.
    """
    from energo.tx import TxFailed

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
