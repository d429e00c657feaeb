"""The households' trading rules: simple, deterministic, and below the utility price.

- A household with PV keeps what it expects to need for the next six hours (its own
  evening and night) and offers the rest, at its ask: a fraction of the utility price
  that it keeps for the day, give or take 3 %.
- Any household holding less than it expects to use in the next hour (or interval;
  settled less often, until an hour past the next settlement) bids for the difference, at most its bid fraction of the utility price, and only when
  the book shows an offer it would accept (a taker, not a speculator).

Expected use is flat (daily load spread over the day): agents do not see the simulator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from energo_community.members import Household

HOUR_S = 3_600
KEEP_HOURS = 6
#: Sell at most this much per reading interval (15 minutes by default; a settlement of
#: several intervals offers up to this much for each), so a sunny afternoon spreads over
#: many trades.
MAX_SELL_WH = 5_000
PRICE_JITTER = 0.03


@dataclass(frozen=True)
class Holding:
    spendable_wh: int
    free_tsl: int  # after pending rent, TSL base units


@dataclass(frozen=True)
class Order:
    household: Household
    price: int  # TSL base units per kWh, on the tick grid
    amount_wh: int


def interval_rng(seed: int, interval: int) -> random.Random:
    return random.Random(f"energo-community:{seed}:trading:{interval}")


def expected_use_wh(household: Household, seconds: int) -> int:
    return household.profile.daily_load_wh * seconds // 86_400


def _price(fraction: float, utility_price: int, tick: int) -> int:
    return max(tick, round(utility_price * fraction / tick) * tick)


def sell_order(household: Household, holding: Holding, rng: random.Random, utility_price: int, tick: int,
               min_order_wh: int, max_sell_wh: int = MAX_SELL_WH) -> Order | None:
    jitter = rng.uniform(-PRICE_JITTER, PRICE_JITTER)  # drawn for everyone: one draw per agent per interval
    if not household.has_pv:
        return None
    surplus = holding.spendable_wh - expected_use_wh(household, KEEP_HOURS * HOUR_S)
    amount = min(surplus, max_sell_wh)
    if amount < min_order_wh:
        return None
    return Order(household, _price(household.ask_fraction + jitter, utility_price, tick), amount)


def bid_horizon_s(interval_s: int, settlement_s: int) -> int:
    """How far ahead a bid covers expected use: the next hour (or reading interval, if
    longer), plus the wait until the next settlement beyond one interval, the household's
    next chance to buy. Settled every interval, that is the next hour, as it always was."""
    return max(HOUR_S, interval_s) + settlement_s - interval_s


def buy_order(household: Household, holding: Holding, rng: random.Random, utility_price: int, tick: int,
              min_order_wh: int, horizon_s: int) -> Order | None:
    jitter = rng.uniform(-PRICE_JITTER, PRICE_JITTER)
    need = expected_use_wh(household, max(HOUR_S, horizon_s)) - holding.spendable_wh
    price = _price(household.bid_fraction + jitter, utility_price, tick)
    affordable = holding.free_tsl * 1000 // price
    amount = min(need, affordable)
    if amount < min_order_wh:
        return None
    return Order(household, price, amount)
