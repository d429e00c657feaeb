"""Contract facts, defined once: what the Solidity says, as Python names.

Enums follow the declaration order in ``interfaces/*.sol`` (the ABI encodes an enum as
uint8; tests/energo/test_facts.py reads the Solidity and checks every member). Role ids
are the keccak of their names, as OpenZeppelin's AccessControl defines them. Units and
conversions round as the contracts do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from eth_utils import keccak

from energo.constants import TSL, WATT, WATT_PER_WH

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# ------------------------------------------------------------------ roles

DEFAULT_ADMIN_ROLE = b"\x00" * 32
REGISTRAR_ROLE = keccak(text="REGISTRAR_ROLE")
MARKET_ROLE = keccak(text="MARKET_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")

#: IMeterLedger.MeterKind, by the name operators type.
METER_KINDS = {"household": 0, "battery": 1}

#: The reference system's rent: 617.9 TSL keeps 2018.23 kWh stored for 88 days.
REFERENCE_RENT_PER_WATT_DAY = 6179 * 10**19 // 17_760_424


# ------------------------------------------------------------------ enums


class Side(enum.IntEnum):
    """IMarket.Side."""

    BUY = 0
    SELL = 1

    @property
    def label(self) -> str:
        """The API's name: ``buy`` or ``sell``."""
        return self.name.lower()


class RemovalReason(enum.IntEnum):
    """IMarket.RemovalReason."""

    CANCELLED = 0
    EXPIRED = 1
    SELF_TRADE = 2
    SELLER_SHORTFALL = 3
    UNFILLED = 4
    BELOW_MINIMUM = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class RoundPhase(enum.IntEnum):
    """IMarketAuction.RoundPhase."""

    OPEN = 0
    DISCOVERING = 1
    SETTLING = 2
    CLEARED = 3


class RejectReason(enum.IntEnum):
    """IMeterLedger.RejectReason."""

    NONE = 0
    UNKNOWN_METER = 1
    METER_REVOKED = 2
    BAD_SIGNATURE = 3
    ALREADY_APPLIED = 4
    TIMESTAMP_NOT_AFTER_LAST = 5
    TIMESTAMP_IN_FUTURE = 6
    REGISTER_DECREASED = 7
    EXCEEDS_RATED_POWER = 8
    VALUE_OUT_OF_RANGE = 9
    BATTERY_REFUSED = 10

    @property
    def solidity_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


# ------------------------------------------------------------------ markets

MARKET_MODES = ("continuous", "auction")
#: The contract behind each market mode.
MARKET_CONTRACTS = {"continuous": "ContinuousMarket", "auction": "CallAuctionMarket"}
#: Ticks are 24-bit (TickBitmap.MAX_TICK).
MAX_TICK = (1 << 24) - 1
#: Order ids hold a 40-bit queue index below the level key.
INDEX_BITS = 40
#: ``levelKey = bookId << 25 | side << 24 | tick``, so the book id starts at bit 65.
BOOK_SHIFT = INDEX_BITS + 25
DEFAULT_ROUND_LENGTH = 900  # 15 minutes, the Manila market's rounds


@dataclass(frozen=True)
class OrderKey:
    """What an order id encodes: ``id = (bookId << 25 | side << 24 | tick) << 40 | index``.

    The book id is 0 in the continuous market and the round id in the call auction."""

    book_id: int
    side: Side
    tick: int
    index: int

    @classmethod
    def decode(cls, order_id: int) -> OrderKey:
        key = int(order_id) >> INDEX_BITS
        return cls(key >> 25, Side((key >> 24) & 1), key & MAX_TICK, int(order_id) & ((1 << INDEX_BITS) - 1))

    def encode(self) -> int:
        return (((self.book_id << 25) | (int(self.side) << 24) | self.tick) << INDEX_BITS) | self.index


def book_of(order_id: int) -> int:
    """The round id of an auction order (0 in the continuous market)."""
    return int(order_id) >> BOOK_SHIFT


@dataclass(frozen=True)
class MarketSettings:
    """A market's parameters: IMarket.MarketConfig plus the mode and the call auction's
    round length. The one shape used by the deploy configuration, the deploy engine,
    tests and the demo. Amounts in base units: TSL base units per kWh, whole Wh."""

    mode: str = "continuous"  # or "auction" (periodic call auction)
    tick_size: int = TSL // 1000  # 0.001 TSL per kWh
    min_size_wh: int = 100  # 0.1 kWh
    round_length_s: int = DEFAULT_ROUND_LENGTH
    fee_bps: int = 0
    fee_recipient: str | None = None
    price_cap: bool = False

    @property
    def contract(self) -> str:
        return MARKET_CONTRACTS[self.mode]

    def market_config(self) -> tuple:
        """IMarket.MarketConfig as the constructor takes it."""
        return (self.tick_size, self.min_size_wh, self.fee_bps, self.fee_recipient or ZERO_ADDRESS, self.price_cap)

    def constructor_args(self, battery: str) -> list:
        args: list = [battery, self.market_config()]
        if self.mode == "auction":
            args.append(self.round_length_s)
        return args


# ------------------------------------------------------------------ units


def cost_tsl(amount_wh: int, price: int, *, round_up: bool = False) -> int:
    """TSL base units for ``amount_wh`` at ``price`` (TSL base units per kWh).

    Rounds down, as the markets' ``_cost`` does (exact on a tick, a multiple of 1000);
    ``round_up`` for what a household should be told it needs at most."""
    if round_up:
        return -(-amount_wh * price // 1000)
    return amount_wh * price // 1000


def wh_to_watt(amount_wh: int) -> int:
    """Whole Wh -> WATT base units."""
    return amount_wh * WATT_PER_WH


def watt_to_wh(amount: int) -> int:
    """WATT base units -> whole Wh, rounded down."""
    return amount * 1000 // WATT


def watt_to_kwh(amount: int) -> Decimal:
    """WATT base units -> kWh, exactly."""
    return Decimal(amount) / WATT
