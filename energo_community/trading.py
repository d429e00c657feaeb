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

from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from energo.facts import ZERO_ADDRESS, Side, watt_to_wh
from energo.tx import Sender
from energo_community.agents import MAX_SELL_WH, Holding, Order, buy_order, sell_order
from energo_community.chainlog import receipt_events
from energo_community.contracts import call, call_all, lean, send
from energo_community.members import Household


class MarketDesk:
    def __init__(self, w3: Web3, mode: str, market: Contract, battery: Contract, utility_price: int, tick: int,
                 min_order_wh: int, round_length_s: int):
        self.w3 = w3
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
        self._senders: dict[str, Sender] = {}
        #: Each account's holdings views, built once (their arguments never change).
        self._holding_calls: dict[str, list] = {}
        self._best_ask = lean(market).bestAsk() if mode == "continuous" else None
        #: Auction: the open round's best-offer view, built once per round.
        self._round_depth: tuple[int, ContractFunction] | None = None

    def sender(self, account: str) -> Sender:
        """The account's legacy-transaction sender (anvil's unlocked dev accounts)."""
        if account not in self._senders:
            self._senders[account] = Sender(self.w3, account)
        return self._senders[account]

    def transact(self, account: str, call: ContractFunction) -> dict:
        """A transaction of the day's loop (orders, purges, the operator's settleRent), sent
        by ``contracts.send`` with the account's Sender rules; returns the node's receipt."""
        return send(self.w3, self.sender(account), call)

    # ------------------------------------------------------------ views

    def holdings(self, accounts: list[str]) -> list[Holding]:
        """Each account's spendable WATT (whole Wh) and free TSL after pending rent."""
        calls = []
        for account in accounts:
            if account not in self._holding_calls:
                views = lean(self.battery)
                self._holding_calls[account] = [views.spendableWattOf(account), views.freeTslOf(account),
                                                views.pendingRent(account)]
            calls += self._holding_calls[account]
        values = call_all(self.w3, calls)
        holdings = []
        for i in range(len(accounts)):
            spendable, free, (tsl_due, _watt_due) = values[3 * i: 3 * i + 3]
            holdings.append(Holding(watt_to_wh(spendable), max(0, free - tsl_due)))
        return holdings

    def best_offer(self, round_id: int) -> int:
        """The lowest open offer (0 if none): the continuous book's best ask, or the open round's."""
        if self.mode == "continuous":
            assert self._best_ask is not None
            price, _amount = call(self.w3, self._best_ask)
            return price
        if self._round_depth is None or self._round_depth[0] != round_id:
            self._round_depth = (round_id, lean(self.market).depth(round_id, int(Side.SELL), 0, 1))
        prices, *_ = call(self.w3, self._round_depth[1])
        return prices[0] if prices else 0

    # ------------------------------------------------------------ orders

    def _place(self, account: str, side: Side, order: Order, expires_at: int, round_id: int) -> None:
        if self.mode == "continuous":
            ioc = side == Side.BUY
            receipt = self.transact(account, lean(self.market).placeOrder(
                int(side), order.price, order.amount_wh, 0 if ioc else expires_at, ioc))
            if side == Side.SELL:
                self.open_offers += [e["orderId"] for e in receipt_events(self.w3, receipt, self.market, "OrderPlaced")]
        else:
            self.transact(account, lean(self.market).placeOrder(int(side), order.price, order.amount_wh))
            self.rounds_with_orders.add(round_id)

    def trade(self, households: list[Household], accounts: list[str], rng: random.Random, now: int,
              expires_at: int, horizon_s: int, max_sell_wh: int = MAX_SELL_WH) -> int:
        """One interval of trading: offers first, then bids against them. Returns orders placed."""
        holdings = self.holdings(accounts)
        round_id = now // self.round_length_s
        order = list(range(len(households)))
        rng.shuffle(order)
        placed = 0
        for i in order:
            offer = sell_order(households[i], holdings[i], rng, self.utility_price, self.tick, self.min_order_wh,
                               max_sell_wh)
            if offer is not None:
                self._place(accounts[i], Side.SELL, offer, expires_at, round_id)
                placed += 1
        rng.shuffle(order)
        for i in order:
            bid = buy_order(households[i], holdings[i], rng, self.utility_price, self.tick, self.min_order_wh,
                            horizon_s)
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
        owners = call_all(self.w3, [lean(self.market).order(i) for i in ids])
        still_open = [i for i, info in zip(ids, owners, strict=True) if info[0] != ZERO_ADDRESS]
        if still_open:
            self.transact(keeper, lean(self.market).purgeExpired(still_open))

    def rounds_to_clear(self, now: int) -> set[int]:
        """Auction: rounds with orders that have closed by `now` (the keeper clears them)."""
        due = {r for r in self.rounds_with_orders if (r + 1) * self.round_length_s <= now}
        self.rounds_with_orders -= due
        return due
