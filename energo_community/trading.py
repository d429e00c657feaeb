"""Placing the agents' orders in either market mode, and tidying up between intervals.

Continuous double auction: offers rest until the next interval starts (good till time),
bids are immediate-or-cancel and trade at the offers' prices. At the next interval,
offers that did not sell are purged (anyone may), so no WATT stays locked while the
meters are read (locked WATT is not served to its owner).

Call auction: offers and bids join the open 15-minute round; when the round closes the
battery gateway's keeper (oracle/keeper.py, auction_clearing) clears it at one uniform
price. The demo waits for that before the next readings, for the same reason.
"""

from __future__ import annotations

import random

from energo.constants import WATT_PER_WH
from energo.facts import Side
from energo_community.agents import Holding, Order, buy_order, sell_order
from energo_community.members import Household
from energo_community.rpc import Codec, Rpc

ZERO_ADDRESS = "0x" + "00" * 20


class MarketDesk:
    def __init__(self, rpc: Rpc, mode: str, market: Codec, battery: Codec, utility_price: int, tick: int,
                 min_order_wh: int, round_length_s: int):
        self.rpc = rpc
        self.mode = mode
        self.market = market
        self.battery = battery
        self.utility_price = utility_price
        self.tick = tick
        self.min_order_wh = min_order_wh
        self.round_length_s = round_length_s
        #: Continuous: offers of the last interval, to purge. Auction: rounds with orders.
        self.open_offers: list[int] = []
        self.rounds_with_orders: set[int] = set()

    # ------------------------------------------------------------ views

    def holdings(self, accounts: list[str]) -> list[Holding]:
        """Each account's spendable WATT (whole Wh) and free TSL after pending rent."""
        calls = []
        for account in accounts:
            calls += [(self.battery, "spendableWattOf", (account,)), (self.battery, "freeTslOf", (account,)),
                      (self.battery, "pendingRent", (account,))]
        values = self.rpc.calls(calls)
        holdings = []
        for i in range(len(accounts)):
            spendable, free, (tsl_due, _watt_due) = values[3 * i: 3 * i + 3]
            holdings.append(Holding(spendable // WATT_PER_WH, max(0, free - tsl_due)))
        return holdings

    def best_offer(self, round_id: int) -> int:
        """The lowest open offer (0 if none): the continuous book's best ask, or the open round's."""
        if self.mode == "continuous":
            price, _amount = self.rpc.call(self.market, "bestAsk")
            return price
        prices, *_ = self.rpc.call(self.market, "depth", round_id, int(Side.SELL), 0, 1)
        return prices[0] if prices else 0

    # ------------------------------------------------------------ orders

    def _place(self, account: str, side: Side, order: Order, expires_at: int, round_id: int) -> None:
        if self.mode == "continuous":
            ioc = side == Side.BUY
            receipt = self.rpc.transact(account, self.market, "placeOrder", int(side), order.price, order.amount_wh,
                                        0 if ioc else expires_at, ioc)
            if side == Side.SELL:
                self.open_offers += [e["orderId"] for e in self.rpc.events(receipt, self.market, "OrderPlaced")]
        else:
            self.rpc.transact(account, self.market, "placeOrder", int(side), order.price, order.amount_wh)
            self.rounds_with_orders.add(round_id)

    def trade(self, households: list[Household], accounts: list[str], rng: random.Random, now: int,
              expires_at: int, interval_s: int) -> int:
        """One interval of trading: offers first, then bids against them. Returns orders placed."""
        holdings = self.holdings(accounts)
        round_id = now // self.round_length_s
        order = list(range(len(households)))
        rng.shuffle(order)
        placed = 0
        for i in order:
            offer = sell_order(households[i], holdings[i], rng, self.utility_price, self.tick, self.min_order_wh)
            if offer is not None:
                self._place(accounts[i], Side.SELL, offer, expires_at, round_id)
                placed += 1
        rng.shuffle(order)
        for i in order:
            bid = buy_order(households[i], holdings[i], rng, self.utility_price, self.tick, self.min_order_wh,
                            interval_s)
            if bid is None:
                continue
            best = self.best_offer(round_id)
            if best == 0 or best > bid.price:
                continue
            self._place(accounts[i], Side.BUY, bid, expires_at, round_id)
            placed += 1
        return placed

    # ------------------------------------------------------------ between intervals

    def purge_unsold(self, keeper: str) -> None:
        """Continuous: removes last interval's expired offers and returns their WATT."""
        ids, self.open_offers = self.open_offers, []
        if not ids:
            return
        owners = self.rpc.calls([(self.market, "order", (i,)) for i in ids])
        still_open = [i for i, info in zip(ids, owners, strict=True) if info[0] != ZERO_ADDRESS]
        if still_open:
            self.rpc.transact(keeper, self.market, "purgeExpired", still_open)

    def rounds_to_clear(self, now: int) -> set[int]:
        """Auction: rounds with orders that have closed by `now` (the keeper clears them)."""
        due = {r for r in self.rounds_with_orders if (r + 1) * self.round_length_s <= now}
        self.rounds_with_orders -= due
        return due
